"""Readable meanings of OCPP 1.6 ChargePointErrorCodes and of Alfen's vendorErrorCodes.

A data table, not branches. Alfen publishes no list of its vendor error codes; only the codes
seen in the field and written down in ../shared/reference are here (each with its source).
Unknown codes are shown as they came.
"""

from __future__ import annotations

ERROR_CODES: dict[str, str] = {
    "ConnectorLockFailure": "the connector lock failed to lock or unlock",
    "EVCommunicationError": "communication with the vehicle failed (Control Pilot)",
    "GroundFailure": "ground fault circuit interrupter tripped",
    "HighTemperature": "temperature inside the station is too high",
    "InternalError": "error in internal hardware or software",
    "LocalListConflict": "the local list entry differs from the central system's answer",
    "NoError": "no error",
    "OtherError": "other error (see the vendor error code and info)",
    "OverCurrentFailure": "over current protection tripped",
    "OverVoltage": "voltage above an acceptable level",
    "PowerMeterFailure": "failure to read the electrical meter",
    "PowerSwitchFailure": "failure to control the power switch",
    "ReaderFailure": "failure with the idTag reader",
    "ResetFailure": "unable to perform a reset",
    "UnderVoltage": "voltage below an acceptable level",
    "WeakSignal": "wireless communication device reports a weak signal",
}
"""OCPP 1.6 §7.6 ChargePointErrorCode."""

ALFEN_VENDOR_ERRORS: dict[str, str] = {
    # reference/alfen-smart-charging.md: sent on connector 0, Faulted / OtherError, when the
    # Modbus EMS validity expired ("Modbus TCP/IP lost, in safe mode max 22.0A").
    "210": "Modbus TCP/IP energy management lost: the station runs at its safe current",
}


def error_meaning(error_code: str, vendor_id: str | None, vendor_error_code: str | None) -> str:
    """One line for a status's error: the vendor code's meaning when known, else the OCPP
    code's (empty for NoError without a vendor code)."""
    parts = []
    if error_code != "NoError":
        parts.append(ERROR_CODES.get(error_code, error_code))
    if vendor_error_code:
        alfen = vendor_id is None or "alfen" in vendor_id.lower()
        meaning = ALFEN_VENDOR_ERRORS.get(vendor_error_code) if alfen else None
        parts.append(f"vendor error {vendor_error_code}" + (f": {meaning}" if meaning else ""))
    return "; ".join(parts)
