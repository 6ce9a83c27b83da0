"""Pure validation and payload builders for the operator's commands (no I/O, time passed in).

Each builder checks what the central system can know before sending (ranges, enums, string
lengths, the station's capabilities) and raises `InvalidCommand` with one line for the user;
what only the station can know (a free connector, a known transaction) is its answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_CONNECTOR_ID = 64
"""No station has more connectors; a larger id is a typo."""
ID_TOKEN_LEN = 20
"""idTag is a CiString20 (a station serial number is not a valid idTag)."""
TRIGGER_MESSAGES = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
AVAILABILITY_TYPES = ("Operative", "Inoperative")
PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")
UNITS = ("A", "W")
MAX_DURATION_S = 7 * 24 * 3600
MAX_INT32 = 2**31 - 1

# The statuses that mean "done as asked" per action; any other status is a refusal (HTTP 409).
SUCCESS: dict[str, frozenset[str]] = {
    "RemoteStartTransaction": frozenset({"Accepted"}),
    "RemoteStopTransaction": frozenset({"Accepted"}),
    "UnlockConnector": frozenset({"Unlocked"}),
    "ChangeAvailability": frozenset({"Accepted", "Scheduled"}),
    "TriggerMessage": frozenset({"Accepted"}),
    "ClearCache": frozenset({"Accepted"}),
    "DataTransfer": frozenset({"Accepted"}),
    "GetCompositeSchedule": frozenset({"Accepted"}),
    "SetChargingProfile": frozenset({"Accepted"}),
    "ClearChargingProfile": frozenset({"Accepted"}),
    "ReserveNow": frozenset({"Accepted"}),
    "CancelReservation": frozenset({"Accepted"}),
    "UpdateFirmware": frozenset({"Accepted"}),
    "GetDiagnostics": frozenset({"Accepted"}),
}


class InvalidCommand(ValueError):
    """A request the central system refuses before sending anything (one line for the user)."""


@dataclass(frozen=True, slots=True)
class Command:
    """One CALL to send: the action and its payload."""

    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a station's configuration snapshot says about its smart charging (None: unknown)."""

    connectors: int | None = None
    max_stack_level: int | None = None
    allowed_units: tuple[str, ...] | None = None
    max_periods: int | None = None
    smart_charging: bool | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> Capabilities:
        """From the keys of a GetConfiguration snapshot (missing or unreadable: unknown)."""

        def number(key: str) -> int | None:
            text = values.get(key)
            try:
                return int(str(text).strip()) if text is not None else None
            except ValueError:
                return None

        units_text = values.get("ChargingScheduleAllowedChargingRateUnit")
        units: tuple[str, ...] | None = None
        if units_text is not None:
            names = {u.strip().lower() for u in units_text.split(",")}
            units = tuple(u for u, name in (("A", "current"), ("W", "power")) if name in names)
        profiles = values.get("SupportedFeatureProfiles")
        smart = None if profiles is None else "smartcharging" in profiles.replace(" ", "").lower()
        return cls(
            connectors=number("NumberOfConnectors"),
            max_stack_level=number("ChargeProfileMaxStackLevel"),
            allowed_units=units,
            max_periods=number("ChargingScheduleMaxPeriods"),
            smart_charging=smart,
        )


def iso(epoch: float) -> str:
    """An OCPP timestamp (UTC, seconds, `Z`)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, what: str) -> float:
    """Epoch seconds from ISO 8601 (no zone: UTC); InvalidCommand naming `what` otherwise."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidCommand(f"{what} {text!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _connector(connector_id: int, *, station: bool = False) -> int:
    low = 0 if station else 1
    if not low <= connector_id <= MAX_CONNECTOR_ID:
        raise InvalidCommand(f"connector_id must be from {low} to {MAX_CONNECTOR_ID}")
    return connector_id


def _id_tag(id_tag: str, what: str = "id_tag") -> str:
    tag = id_tag.strip()
    if not tag:
        raise InvalidCommand(f"{what} must not be empty")
    if len(tag) > ID_TOKEN_LEN:
        raise InvalidCommand(f"{what} {tag!r} is longer than {ID_TOKEN_LEN} characters")
    if not tag.isprintable():
        raise InvalidCommand(f"{what} must be printable text")
    return tag


def remote_start(
    connector_id: int | None,
    id_tag: str,
    charging_profile: Mapping[str, Any] | None,
    caps: Capabilities,
) -> Command:
    """RemoteStartTransaction; a profile must be a TxProfile without a transactionId."""
    payload: dict[str, Any] = {"idTag": _id_tag(id_tag)}
    if connector_id is not None:
        payload["connectorId"] = _connector(connector_id)
    if charging_profile is not None:
        profile = check_profile(charging_profile, caps)
        if profile["chargingProfilePurpose"] != "TxProfile":
            raise InvalidCommand("a remote start's charging profile must be a TxProfile")
        if "transactionId" in profile:
            raise InvalidCommand("a remote start's profile has no transactionId yet")
        payload["chargingProfile"] = profile
    return Command("RemoteStartTransaction", payload)


def remote_stop(transaction_id: int) -> Command:
    if not 0 <= transaction_id <= MAX_INT32:
        raise InvalidCommand(f"transaction_id must be from 0 to {MAX_INT32}")
    return Command("RemoteStopTransaction", {"transactionId": transaction_id})


def unlock(connector_id: int) -> Command:
    return Command("UnlockConnector", {"connectorId": _connector(connector_id)})


def availability(connector_id: int, kind: str) -> Command:
    """ChangeAvailability; connector 0 is the whole station; `kind` in any case."""
    spelled = {k.lower(): k for k in AVAILABILITY_TYPES}.get(kind.strip().lower())
    if spelled is None:
        raise InvalidCommand(f"availability must be one of {', '.join(AVAILABILITY_TYPES)}")
    payload = {"connectorId": _connector(connector_id, station=True), "type": spelled}
    return Command("ChangeAvailability", payload)


def trigger(message: str, connector_id: int | None) -> Command:
    """TriggerMessage for every 1.6 trigger (the name in any case)."""
    spelled = {m.lower(): m for m in TRIGGER_MESSAGES}.get(message.strip().lower())
    if spelled is None:
        raise InvalidCommand(f"message must be one of {', '.join(TRIGGER_MESSAGES)}")
    payload: dict[str, Any] = {"requestedMessage": spelled}
    if connector_id is not None:
        payload["connectorId"] = _connector(connector_id, station=True)
    return Command("TriggerMessage", payload)


def clear_cache() -> Command:
    return Command("ClearCache", {})


def data_transfer(vendor_id: str, message_id: str | None, data: str | None) -> Command:
    vendor = vendor_id.strip()
    if not vendor or len(vendor) > 255:
        raise InvalidCommand("vendor_id must be 1 to 255 characters")
    payload: dict[str, Any] = {"vendorId": vendor}
    if message_id is not None:
        if len(message_id) > 50:
            raise InvalidCommand("message_id must be at most 50 characters")
        payload["messageId"] = message_id
    if data is not None:
        payload["data"] = data
    return Command("DataTransfer", payload)


def composite(connector_id: int, duration_s: int, unit: str | None, caps: Capabilities) -> Command:
    """GetCompositeSchedule; without a unit the station answers in its own."""
    if not 1 <= duration_s <= MAX_DURATION_S:
        raise InvalidCommand(f"duration_s must be from 1 to {MAX_DURATION_S}")
    payload: dict[str, Any] = {
        "connectorId": _connector(connector_id, station=True),
        "duration": duration_s,
    }
    if unit is not None:
        if unit not in UNITS:
            raise InvalidCommand("unit must be A or W")
        if caps.allowed_units is not None and unit not in caps.allowed_units:
            raise InvalidCommand(
                f"the station schedules in {'/'.join(caps.allowed_units) or 'no unit'} only"
            )
        payload["chargingRateUnit"] = unit
    return Command("GetCompositeSchedule", payload)


def check_profile(profile: Mapping[str, Any], caps: Capabilities) -> dict[str, Any]:
    """A csChargingProfiles object checked against OCPP 1.6 and the station's capabilities."""
    if caps.smart_charging is False:
        raise InvalidCommand("the station does not support the SmartCharging feature profile")
    out = dict(profile)
    for key in ("chargingProfileId", "stackLevel", "chargingProfilePurpose",
                "chargingProfileKind", "chargingSchedule"):  # fmt: skip
        if key not in out:
            raise InvalidCommand(f"charging profile needs {key}")
    if not isinstance(out["chargingProfileId"], int) or out["chargingProfileId"] < 0:
        raise InvalidCommand("chargingProfileId must be a non-negative integer")
    level = out["stackLevel"]
    if not isinstance(level, int) or level < 0:
        raise InvalidCommand("stackLevel must be a non-negative integer")
    if caps.max_stack_level is not None and level > caps.max_stack_level:
        raise InvalidCommand(
            f"stackLevel {level} is above the station's ChargeProfileMaxStackLevel "
            f"{caps.max_stack_level}"
        )
    if out["chargingProfilePurpose"] not in PURPOSES:
        raise InvalidCommand(f"chargingProfilePurpose must be one of {', '.join(PURPOSES)}")
    if out["chargingProfileKind"] not in ("Absolute", "Recurring", "Relative"):
        raise InvalidCommand("chargingProfileKind must be Absolute, Recurring or Relative")
    schedule = out["chargingSchedule"]
    if not isinstance(schedule, Mapping):
        raise InvalidCommand("chargingSchedule must be an object")
    unit = schedule.get("chargingRateUnit")
    if unit not in UNITS:
        raise InvalidCommand("chargingSchedule.chargingRateUnit must be A or W")
    if caps.allowed_units is not None and unit not in caps.allowed_units:
        raise InvalidCommand(
            f"the station accepts limits in {'/'.join(caps.allowed_units) or 'no unit'} only "
            "(ChargingScheduleAllowedChargingRateUnit)"
        )
    periods = schedule.get("chargingSchedulePeriod")
    if not isinstance(periods, list) or not periods:
        raise InvalidCommand("chargingSchedule.chargingSchedulePeriod needs at least one period")
    if caps.max_periods is not None and len(periods) > caps.max_periods:
        raise InvalidCommand(
            f"{len(periods)} periods are more than the station's ChargingScheduleMaxPeriods "
            f"{caps.max_periods}"
        )
    starts = []
    for period in periods:
        if not isinstance(period, Mapping):
            raise InvalidCommand("each charging schedule period must be an object")
        start, limit = period.get("startPeriod"), period.get("limit")
        if not isinstance(start, int) or start < 0:
            raise InvalidCommand("startPeriod must be a non-negative integer")
        if not isinstance(limit, int | float) or isinstance(limit, bool) or limit < 0:
            raise InvalidCommand("limit must be a non-negative number")
        starts.append(start)
    if starts[0] != 0 or starts != sorted(set(starts)):
        raise InvalidCommand("periods must start at 0 and be in increasing startPeriod order")
    if out["chargingProfilePurpose"] == "TxProfile" and out.get("transactionId") is None:
        out.pop("transactionId", None)
    return out


def set_profile(connector_id: int, profile: Mapping[str, Any], caps: Capabilities) -> Command:
    """SetChargingProfile by hand; ChargePointMaxProfile only on connector 0."""
    checked = check_profile(profile, caps)
    cid = _connector(connector_id, station=True)
    if caps.connectors is not None and cid > caps.connectors:
        raise InvalidCommand(f"the station has {caps.connectors} connector(s)")
    purpose = checked["chargingProfilePurpose"]
    if purpose == "ChargePointMaxProfile" and cid != 0:
        raise InvalidCommand("a ChargePointMaxProfile goes on connector 0")
    if purpose == "TxProfile" and cid == 0:
        raise InvalidCommand("a TxProfile goes on the connector of its transaction, not 0")
    if purpose == "TxProfile" and "transactionId" not in checked:
        raise InvalidCommand("a TxProfile sent by hand needs the transactionId it belongs to")
    return Command("SetChargingProfile", {"connectorId": cid, "csChargingProfiles": checked})


VOLTAGE_V = 230.0


def manual_limit_a(profile: Mapping[str, Any]) -> float:
    """The current a checked profile allows at first (its first period; W over 230 V × phases):
    what the allocator counts for a connector under a profile set by hand."""
    schedule = profile["chargingSchedule"]
    period = schedule["chargingSchedulePeriod"][0]
    limit = float(period["limit"])
    if schedule["chargingRateUnit"] == "W":
        limit /= VOLTAGE_V * int(period.get("numberPhases") or 3)
    return round(limit, 1)


def check_beside_loop(profile: Mapping[str, Any], caps: Capabilities) -> None:
    """On a station the control loop manages, a profile by hand stays below the loop's stack
    levels (it writes the two highest): the station then applies the loop's profile, which the
    loop keeps at or below the manual limit (an operator cap), and the two never replace each
    other. See docs/operations.md."""
    top = caps.max_stack_level
    if top is None:
        raise InvalidCommand(
            "the station's capabilities are not read yet (no configuration snapshot): "
            "a profile by hand on a managed station needs its ChargeProfileMaxStackLevel"
        )
    highest = top - 2
    if highest < 0:
        raise InvalidCommand(
            f"the station's ChargeProfileMaxStackLevel {top} leaves no stack level below the "
            "control loop's; set a connector cap instead (csms site --cap, or the API's "
            "…/charging/connectors/{n}/cap)"
        )
    if profile["stackLevel"] > highest:
        raise InvalidCommand(
            f"stackLevel {profile['stackLevel']}: levels {top - 1} and {top} are the control "
            f"loop's on this station; use {highest} or lower"
        )


def clear_profile(
    profile_id: int | None, connector_id: int | None, purpose: str | None, stack_level: int | None
) -> Command:
    """ClearChargingProfile; no criterion clears every profile (as OCPP says)."""
    payload: dict[str, Any] = {}
    if profile_id is not None:
        payload["id"] = profile_id
    if connector_id is not None:
        payload["connectorId"] = _connector(connector_id, station=True)
    if purpose is not None:
        if purpose not in PURPOSES:
            raise InvalidCommand(f"purpose must be one of {', '.join(PURPOSES)}")
        payload["chargingProfilePurpose"] = purpose
    if stack_level is not None:
        if stack_level < 0:
            raise InvalidCommand("stack_level must not be negative")
        payload["stackLevel"] = stack_level
    return Command("ClearChargingProfile", payload)


def reserve_now(
    reservation_id: int,
    connector_id: int,
    id_tag: str,
    expiry: float,
    parent_id_tag: str | None,
    now: float,
) -> Command:
    """ReserveNow; connector 0 reserves any connector (if the station allows it)."""
    if expiry <= now:
        raise InvalidCommand(f"expiry {iso(expiry)} is not in the future")
    payload: dict[str, Any] = {
        "connectorId": _connector(connector_id, station=True),
        "expiryDate": iso(expiry),
        "idTag": _id_tag(id_tag),
        "reservationId": reservation_id,
    }
    if parent_id_tag is not None:
        payload["parentIdTag"] = _id_tag(parent_id_tag, "parent_id_tag")
    return Command("ReserveNow", payload)


def cancel_reservation(reservation_id: int) -> Command:
    return Command("CancelReservation", {"reservationId": reservation_id})


def _retries(retries: int | None, retry_interval_s: int | None, payload: dict[str, Any]) -> None:
    if retries is not None:
        if not 0 <= retries <= 100:
            raise InvalidCommand("retries must be from 0 to 100")
        payload["retries"] = retries
    if retry_interval_s is not None:
        if not 1 <= retry_interval_s <= 86400:
            raise InvalidCommand("retry_interval_s must be from 1 to 86400")
        payload["retryInterval"] = retry_interval_s


def update_firmware(
    location: str, retrieve_at: float, retries: int | None, retry_interval_s: int | None
) -> Command:
    """UpdateFirmware pointing the station at `location` (our own URL)."""
    payload: dict[str, Any] = {"location": location, "retrieveDate": iso(retrieve_at)}
    _retries(retries, retry_interval_s, payload)
    return Command("UpdateFirmware", payload)


def get_diagnostics(
    location: str,
    start: float | None,
    stop: float | None,
    retries: int | None = None,
    retry_interval_s: int | None = None,
) -> Command:
    """GetDiagnostics: the station uploads its log file to `location` (a directory URI)."""
    if not location.startswith(("http://", "https://", "ftp://", "ftps://", "sftp://")):
        raise InvalidCommand("location must be an http(s):// or ftp:// URL")
    if start is not None and stop is not None and start > stop:
        raise InvalidCommand("start is after stop")
    payload: dict[str, Any] = {"location": location}
    _retries(retries, retry_interval_s, payload)
    if start is not None:
        payload["startTime"] = iso(start)
    if stop is not None:
        payload["stopTime"] = iso(stop)
    return Command("GetDiagnostics", payload)


def station_status(action: str, answer: Mapping[str, Any]) -> str:
    """The station's own status for `action` (UpdateFirmware and GetDiagnostics answer without
    one: an answer at all means accepted)."""
    if action in ("UpdateFirmware", "GetDiagnostics"):
        return "Accepted"
    return str(answer.get("status", "Unknown"))


def succeeded(action: str, status: str) -> bool:
    return status in SUCCESS[action]
