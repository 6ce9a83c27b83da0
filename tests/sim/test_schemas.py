"""Every frame the simulated station sends passes the OCPP 1.6 JSON schemas the `ocpp` package
ships (acceptance 4). The frames are recorded on the wire and checked here with `jsonschema`,
independently of the library's own validation."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import ocpp
from jsonschema import Draft4Validator

from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from csms.sim.station import SimStation
from tests.support.fixtures_sim import MiniCentralSystem

SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"


@cache
def validator(name: str) -> Draft4Validator:
    # Decimal parsing, as the schemas' `multipleOf: 0.1` needs (21.4 is not 21.399999…).
    return Draft4Validator(json.loads((SCHEMAS / f"{name}.json").read_text(), parse_float=Decimal))


def check_frames(frames: list[tuple[str, str]]) -> set[str]:
    """Validate every outgoing frame; returns the schema names that were exercised."""
    asked: dict[str, str] = {}
    checked: set[str] = set()
    for direction, text in frames:
        frame = json.loads(text, parse_float=Decimal)
        if direction == "in":
            if frame[0] == 2:
                asked[frame[1]] = frame[2]
            continue
        assert frame[0] in (2, 3), f"the station sent a CALLERROR: {text}"
        name = frame[2] if frame[0] == 2 else asked[frame[1]] + "Response"
        payload = frame[3] if frame[0] == 2 else frame[2]
        errors = [e.message for e in validator(name).iter_errors(payload)]
        assert not errors, f"{name} {payload}: {errors}"
        checked.add(name)
    return checked


def tx_profile(limit: float) -> dict[str, Any]:
    return {
        "chargingProfileId": 4,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


async def test_every_simulator_frame_passes_the_ocpp_schemas(
    mini_cs: MiniCentralSystem, sim_stations, sim_clock: SimClock
) -> None:
    mini_cs.heartbeat_interval = 30
    stations: list[SimStation] = await sim_stations(
        1,
        mini_cs.url,
        sockets=2,
        record_frames=True,
        reboot_delay_s=0.05,
        config={
            "Active-LoadBalancing": "On",
            "MeterValueSampleInterval": "1",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,"
            "Current.Import,Current.Offered,Voltage,Frequency,Temperature,Power.Factor",
        },
    )
    station = stations[0]
    sid = station.station_id
    cs = mini_cs

    # Station-initiated: Authorize, StartTransaction, MeterValues, StopTransaction, Heartbeat.
    station.plug_in(1, SimEv(max_current_a=16, phases=1, id_tag="CARD-1"))
    station.plug_in(2, SimEv(max_current_a=10, phases=3, id_tag=None))
    tx1 = await station.wait_transaction(1)
    sim_clock.advance(31)
    sim_clock.tick_now()
    await cs.wait_for(lambda: cs.messages(sid, "MeterValues") and cs.messages(sid, "Heartbeat"))

    # Central-system-initiated: every answer the simulator gives.
    await cs.call(sid, "GetConfiguration", {})
    await cs.call(sid, "GetConfiguration", {"key": ["HeartbeatInterval", "Unknown-Key"]})
    for key, value in (
        ("MeterValueSampleInterval", "2"),
        ("Phase-Connected", "L2L3L1"),
        ("HeartbeatInterval", "1"),
        ("Not-A-Key", "x"),
    ):
        await cs.call(sid, "ChangeConfiguration", {"key": key, "value": value})
    await cs.call(
        sid, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": tx_profile(10.3)}
    )
    await cs.call(
        sid, "SetChargingProfile", {"connectorId": 2, "csChargingProfiles": tx_profile(9)}
    )
    for request in (
        {"connectorId": 1, "duration": 900},
        {"connectorId": 0, "duration": 60, "chargingRateUnit": "A"},
        {"connectorId": 5, "duration": 60},
    ):
        await cs.call(sid, "GetCompositeSchedule", request)
    await cs.call(sid, "ClearChargingProfile", {"id": 4})
    await cs.call(sid, "ClearChargingProfile", {"id": 4})
    await cs.call(sid, "RemoteStartTransaction", {"idTag": "APP", "connectorId": 2})
    tx2 = await station.wait_transaction(2)
    for message in (
        "StatusNotification",
        "MeterValues",
        "Heartbeat",
        "DiagnosticsStatusNotification",
    ):
        await cs.call(sid, "TriggerMessage", {"requestedMessage": message})
    await cs.call(sid, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    await cs.call(sid, "ChangeAvailability", {"connectorId": 7, "type": "Inoperative"})
    await cs.call(sid, "RemoteStopTransaction", {"transactionId": tx2})
    await cs.call(sid, "UnlockConnector", {"connectorId": 1})
    await cs.call(sid, "DataTransfer", {"vendorId": "Someone"})
    await cs.call(sid, "ClearCache", {})
    await cs.wait_for(lambda: len(cs.messages(sid, "StopTransaction")) == 2)
    station.meter_lost = True  # connector 0 Faulted with info and vendorErrorCode
    await cs.wait_for(lambda: cs.messages(sid, "StatusNotification")[-1]["status"] == "Faulted")
    await cs.call(sid, "Reset", {"type": "Hard"})
    await station.wait_for(lambda: station.boots == 2)
    await cs.wait_for(lambda: len(cs.messages(sid, "StatusNotification")) >= 12)

    checked = check_frames(station.frames)
    assert tx1 != tx2
    assert checked >= {
        "BootNotification",
        "StatusNotification",
        "Heartbeat",
        "Authorize",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
        "GetConfigurationResponse",
        "ChangeConfigurationResponse",
        "SetChargingProfileResponse",
        "GetCompositeScheduleResponse",
        "ClearChargingProfileResponse",
        "RemoteStartTransactionResponse",
        "RemoteStopTransactionResponse",
        "TriggerMessageResponse",
        "ChangeAvailabilityResponse",
        "UnlockConnectorResponse",
        "DataTransferResponse",
        "ClearCacheResponse",
        "ResetResponse",
    }


def test_the_checker_catches_a_bad_frame() -> None:
    bad = json.dumps([2, "1", "StatusNotification", {"connectorId": 1, "status": "Charging"}])
    try:
        check_frames([("out", bad)])
    except AssertionError as exc:
        assert "errorCode" in str(exc)
    else:
        raise AssertionError("a StatusNotification without errorCode passed")
