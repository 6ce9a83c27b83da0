"""The pure validation and payload builders of operator commands (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from csms.operations import commands as cmd

NOW = 1_780_000_000.0
ALFEN = cmd.Capabilities.from_values(
    {
        "NumberOfConnectors": "2",
        "ChargeProfileMaxStackLevel": "8",
        "ChargingScheduleAllowedChargingRateUnit": "Current",
        "ChargingScheduleMaxPeriods": "24",
        "SupportedFeatureProfiles": "Core,FirmwareManagement,SmartCharging,Reservation",
    }
)
UNKNOWN = cmd.Capabilities()


def profile(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "chargingProfileId": 900,
        "stackLevel": 5,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
        },
    }
    base.update(changes)
    return base


def test_capabilities_from_a_snapshot() -> None:
    assert cmd.Capabilities(2, 8, ("A",), 24, True) == ALFEN
    watts = cmd.Capabilities.from_values({"ChargingScheduleAllowedChargingRateUnit": "Power"})
    assert watts.allowed_units == ("W",) and watts.max_stack_level is None
    assert cmd.Capabilities.from_values({"ChargeProfileMaxStackLevel": "x"}).max_stack_level is None


@pytest.mark.parametrize(
    ("name", "build", "payload"),
    [
        ("remote start", lambda: cmd.remote_start(1, " TAG1 ", None, ALFEN),
         {"idTag": "TAG1", "connectorId": 1}),
        ("remote start, station picks", lambda: cmd.remote_start(None, "T", None, UNKNOWN),
         {"idTag": "T"}),
        ("remote stop", lambda: cmd.remote_stop(17), {"transactionId": 17}),
        ("unlock", lambda: cmd.unlock(2), {"connectorId": 2}),
        ("availability any case", lambda: cmd.availability(0, "inoperative"),
         {"connectorId": 0, "type": "Inoperative"}),
        ("trigger any case", lambda: cmd.trigger("heartbeat", None),
         {"requestedMessage": "Heartbeat"}),
        ("trigger on a connector", lambda: cmd.trigger("StatusNotification", 1),
         {"requestedMessage": "StatusNotification", "connectorId": 1}),
        ("clear cache", cmd.clear_cache, {}),
        ("data transfer", lambda: cmd.data_transfer("Alfen BV", "m", "d"),
         {"vendorId": "Alfen BV", "messageId": "m", "data": "d"}),
        ("composite, own unit", lambda: cmd.composite(1, 600, None, ALFEN),
         {"connectorId": 1, "duration": 600}),
        ("clear all profiles", lambda: cmd.clear_profile(None, None, None, None), {}),
        ("clear by purpose", lambda: cmd.clear_profile(None, 1, "TxProfile", 2),
         {"connectorId": 1, "chargingProfilePurpose": "TxProfile", "stackLevel": 2}),
        ("reserve", lambda: cmd.reserve_now(7, 1, "TAG", NOW + 3600, "GRP", NOW),
         {"connectorId": 1, "expiryDate": "2026-05-28T21:26:40Z", "idTag": "TAG",
          "reservationId": 7, "parentIdTag": "GRP"}),
        ("cancel reservation", lambda: cmd.cancel_reservation(7), {"reservationId": 7}),
        ("update firmware", lambda: cmd.update_firmware("http://h/f", NOW, 3, 60),
         {"location": "http://h/f", "retrieveDate": "2026-05-28T20:26:40Z", "retries": 3,
          "retryInterval": 60}),
        ("diagnostics", lambda: cmd.get_diagnostics("http://h/d/", NOW - 60, NOW),
         {"location": "http://h/d/", "startTime": "2026-05-28T20:25:40Z",
          "stopTime": "2026-05-28T20:26:40Z"}),
    ],
)  # fmt: skip
def test_builders(name: str, build: Any, payload: dict[str, Any]) -> None:
    assert build().payload == payload, name


@pytest.mark.parametrize(
    ("name", "build", "message"),
    [
        ("empty tag", lambda: cmd.remote_start(1, " ", None, ALFEN), "id_tag must not be empty"),
        ("serial as tag", lambda: cmd.remote_start(1, "ACE0123456789012345678", None, ALFEN),
         "longer than 20"),
        ("connector 0 start", lambda: cmd.remote_start(0, "T", None, ALFEN), "from 1 to 64"),
        ("start profile not Tx", lambda: cmd.remote_start(1, "T", profile(), ALFEN),
         "must be a TxProfile"),
        ("negative tx", lambda: cmd.remote_stop(-1), "transaction_id"),
        ("unlock 0", lambda: cmd.unlock(0), "from 1 to 64"),
        ("availability word", lambda: cmd.availability(1, "off"), "Operative, Inoperative"),
        ("trigger unknown", lambda: cmd.trigger("Reset", None), "message must be one of"),
        ("empty vendor", lambda: cmd.data_transfer(" ", None, None), "vendor_id"),
        ("long message id", lambda: cmd.data_transfer("v", "m" * 51, None), "message_id"),
        ("watts on an amp station", lambda: cmd.composite(1, 60, "W", ALFEN), "A only"),
        ("zero duration", lambda: cmd.composite(1, 0, None, ALFEN), "duration_s"),
        ("stack too high", lambda: cmd.set_profile(1, profile(stackLevel=9), ALFEN),
         "above the station's ChargeProfileMaxStackLevel 8"),
        ("watts profile", lambda: cmd.set_profile(
            1, profile(chargingSchedule={"chargingRateUnit": "W",
                                         "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                     "limit": 4000}]}), ALFEN),
         "accepts limits in A only"),
        ("too many periods", lambda: cmd.set_profile(1, profile(chargingSchedule={
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 60 * i, "limit": 8} for i in range(25)]}),
            ALFEN), "ChargingScheduleMaxPeriods 24"),
        ("first period not 0", lambda: cmd.set_profile(1, profile(chargingSchedule={
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 5, "limit": 8}]}),
            ALFEN), "start at 0"),
        ("no connector 3", lambda: cmd.set_profile(3, profile(), ALFEN), "2 connector(s)"),
        ("station max on 1", lambda: cmd.set_profile(
            1, profile(chargingProfilePurpose="ChargePointMaxProfile"), ALFEN), "connector 0"),
        ("tx profile without tx", lambda: cmd.set_profile(
            1, profile(chargingProfilePurpose="TxProfile"), ALFEN), "needs the transactionId"),
        ("missing field", lambda: cmd.set_profile(1, {"stackLevel": 1}, ALFEN),
         "needs chargingProfileId"),
        ("no smart charging", lambda: cmd.set_profile(1, profile(), cmd.Capabilities(
            smart_charging=False)), "SmartCharging"),
        ("bad purpose", lambda: cmd.clear_profile(None, None, "Max", None), "purpose"),
        ("past expiry", lambda: cmd.reserve_now(1, 1, "T", NOW - 1, None, NOW),
         "not in the future"),
        ("retries", lambda: cmd.update_firmware("http://h/f", NOW, 101, None), "retries"),
        ("diagnostics mail", lambda: cmd.get_diagnostics("mailto:x", None, None), "location"),
        ("diagnostics reversed", lambda: cmd.get_diagnostics("ftp://h/", NOW, NOW - 1),
         "start is after stop"),
        ("bad time", lambda: cmd.parse_time("tomorrow", "expiry"), "expiry 'tomorrow'"),
    ],
)  # fmt: skip
def test_refused_before_sending(name: str, build: Any, message: str) -> None:
    with pytest.raises(cmd.InvalidCommand) as caught:
        build()
    assert message in str(caught.value), name
    assert "\n" not in str(caught.value)


def test_unknown_capabilities_send_what_ocpp_allows() -> None:
    command = cmd.set_profile(1, profile(stackLevel=99), UNKNOWN)
    assert command.action == "SetChargingProfile"
    assert command.payload["csChargingProfiles"]["stackLevel"] == 99


@pytest.mark.parametrize(
    ("action", "status", "ok"),
    [
        ("UnlockConnector", "Unlocked", True),
        ("UnlockConnector", "UnlockFailed", False),
        ("ChangeAvailability", "Scheduled", True),
        ("RemoteStartTransaction", "Rejected", False),
        ("ReserveNow", "Occupied", False),
        ("ClearChargingProfile", "Unknown", False),
        ("DataTransfer", "UnknownVendorId", False),
    ],
)
def test_success_is_the_stations_own_status(action: str, status: str, ok: bool) -> None:
    assert cmd.succeeded(action, status) is ok
    assert cmd.station_status("UpdateFirmware", {}) == "Accepted"


@pytest.mark.parametrize(
    ("schedule", "amps"),
    [
        ({"chargingRateUnit": "A",
          "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}]}, 8.0),
        ({"chargingRateUnit": "W",
          "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4140, "numberPhases": 3}]}, 6.0),
        ({"chargingRateUnit": "W",
          "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 2300, "numberPhases": 1}]}, 10.0),
    ],
)  # fmt: skip
def test_manual_limit_in_amps(schedule: dict[str, Any], amps: float) -> None:
    assert cmd.manual_limit_a(profile(chargingSchedule=schedule)) == amps


@pytest.mark.parametrize(
    ("caps", "level", "message"),
    [
        (cmd.Capabilities(max_stack_level=8), 6, None),
        (cmd.Capabilities(max_stack_level=8), 7, "levels 7 and 8 are the control loop's"),
        (cmd.Capabilities(max_stack_level=1), 0, "leaves no stack level below"),
        (cmd.Capabilities(), 0, "capabilities are not read yet"),
    ],
)
def test_a_profile_by_hand_stays_below_the_loop(
    caps: cmd.Capabilities, level: int, message: str | None
) -> None:
    if message is None:
        cmd.check_beside_loop(profile(stackLevel=level), caps)
        return
    with pytest.raises(cmd.InvalidCommand, match=message):
        cmd.check_beside_loop(profile(stackLevel=level), caps)
