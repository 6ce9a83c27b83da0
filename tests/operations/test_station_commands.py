"""Acceptance 1 (issue 12, operator commands): each command through the API and through the
CLI against a simulated Alfen station over real websockets, checking the station's effect and
the answer shown; refusals and an offline station give a one-line error and 409."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from csms.app import CentralSystem
from csms.sim.ev import SimEv
from tests.operations.helpers import SLOW, api, has_event, start_station, stopped, until
from tests.support.cli import csms, one_line_error
from tests.support.waiting import eventually


async def test_remote_start_stop_unlock(
    central_system: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    station = await start_station(sim_stations, cs)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}"
    station.plug_in(1, SimEv(id_tag=None))  # waits for a remote start
    station.plug_in(2, SimEv(id_tag=None))

    answer = await api(cs, "POST", url + "/remote-start", {"connector_id": 1, "id_tag": "TAG1"})
    assert answer["status"] == "Accepted" and answer["action"] == "RemoteStartTransaction"
    tx1 = await station.wait_transaction(1, SLOW)
    stored = await cs.store.transactions.get(tx1)
    assert stored is not None and stored.id_tag == "TAG1"

    code, out, _ = await csms(capsys, cs, "remote", "start", sid, "2", "--id-tag", "TAG2")
    assert code == 0 and out.strip() == f"{sid}: remote start on connector 2 with TAG2: Accepted"
    tx2 = await station.wait_transaction(2, SLOW)

    # Refused by the station (connector 1 is busy): 409 with one line, the hint for Alfen.
    refused = await api(
        cs, "POST", url + "/remote-start", {"connector_id": 1, "id_tag": "TAG9"}, 409
    )
    assert refused["detail"].startswith(
        f"station {sid} answered Rejected to RemoteStartTransaction (an Alfen station"
    )
    code, _, err = await csms(capsys, cs, "remote", "start", sid, "1", "--id-tag", "TAG9")
    assert "409: station ALF-0001 answered Rejected to RemoteStartTransaction" in one_line_error(
        code, err
    )
    # Refused before sending: an idTag longer than CiString20.
    code, _, err = await csms(capsys, cs, "remote", "start", sid, "1", "--id-tag", "X" * 21)
    assert "422: id_tag 'XXXXXXXXXXXXXXXXXXXXX' is longer than 20" in one_line_error(code, err)

    code, out, _ = await csms(capsys, cs, "remote", "stop", sid, str(tx1))
    assert code == 0 and out.strip() == f"{sid}: remote stop of transaction {tx1}: Accepted"
    await station.wait_for(lambda: station.transaction_id(1) is None, SLOW)
    await until(lambda: stopped(cs, tx1))
    answer = await api(cs, "POST", url + "/remote-stop", {"transaction_id": 999999}, 409)
    assert answer["detail"] == f"station {sid} answered Rejected to RemoteStopTransaction"

    # Unlock: a running transaction stops (UnlockCommand), the answer is the station's own.
    answer = await api(cs, "POST", url + "/unlock", {"connector_id": 2})
    assert answer["status"] == "Unlocked"
    await station.wait_for(lambda: station.transaction_id(2) is None, SLOW)
    await until(lambda: stopped(cs, tx2))
    code, out, _ = await csms(capsys, cs, "unlock", sid, "1")
    assert code == 0 and out.strip() == f"{sid}: connector 1: Unlocked"
    code, _, err = await csms(capsys, cs, "unlock", sid, "3")
    assert one_line_error(code, err) == (
        f"csms: 409: station {sid} answered NotSupported to UnlockConnector"
    )

    # Every command and the station's answer are in the station's event log.
    journal = await cs.store.events.for_station(sid, "OperatorCommand", limit=100)
    actions = [(e.data()["action"], e.data()["status"]) for e in journal]
    assert ("RemoteStartTransaction", "Rejected") in actions
    assert ("UnlockConnector", "Unlocked") in actions

    await station.stop()
    await eventually(lambda: not cs.registry.is_online(sid), SLOW)
    answer = await api(cs, "POST", url + "/remote-start", {"id_tag": "T"}, 409)
    assert answer == {"detail": f"station {sid} is offline"}
    code, _, err = await csms(capsys, cs, "remote", "stop", sid, "1")
    assert one_line_error(code, err) == f"csms: 409: station {sid} is offline"
    await api(cs, "POST", "/api/v1/stations/NOPE/unlock", {"connector_id": 1}, 404)


async def test_availability_trigger_cache_datatransfer(
    central_system: CentralSystem, sim_stations: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    station = await start_station(sim_stations, cs)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}"

    answer = await api(
        cs, "POST", url + "/availability", {"connector_id": 2, "type": "Inoperative"}
    )
    assert answer["status"] == "Accepted"
    await station.wait_for(lambda: station.status(2) == "Unavailable", SLOW)
    code, out, _ = await csms(capsys, cs, "availability", sid, "2", "operative")
    assert code == 0 and out.strip() == f"{sid}: connector 2 operative: Accepted"
    await station.wait_for(lambda: station.status(2) == "Available", SLOW)
    # Scheduled while a transaction runs; the connector goes Unavailable when it ends.
    station.plug_in(1, SimEv())
    await station.wait_transaction(1, SLOW)
    code, out, _ = await csms(capsys, cs, "availability", sid, "1", "inoperative")
    assert code == 0 and out.strip() == f"{sid}: connector 1 inoperative: Scheduled"
    station.unplug(1)
    await station.wait_for(lambda: station.status(1) == "Unavailable", SLOW)
    await api(cs, "POST", url + "/availability", {"connector_id": 0, "type": "Operative"})
    await station.wait_for(lambda: station.status(1) == "Available", SLOW)
    await api(cs, "POST", url + "/availability", {"connector_id": 1, "type": "Off"}, 422)

    # Every trigger of OCPP 1.6.
    for message in ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification",
                    "FirmwareStatusNotification", "DiagnosticsStatusNotification"):  # fmt: skip
        answer = await api(cs, "POST", url + "/trigger", {"message": message, "connector_id": None})
        assert answer["status"] == "Accepted", message
    await until(lambda: has_event(cs, sid, "FirmwareStatusNotification"))
    await until(lambda: has_event(cs, sid, "DiagnosticsStatusNotification"))
    code, out, _ = await csms(capsys, cs, "trigger", sid, "statusnotification", "--connector", "1")
    assert code == 0 and out.strip() == f"{sid}: trigger StatusNotification: Accepted"
    code, _, err = await csms(capsys, cs, "trigger", sid, "Heartbeat", "--connector", "9")
    assert (
        one_line_error(code, err) == f"csms: 409: station {sid} answered Rejected to TriggerMessage"
    )
    code, _, err = await csms(capsys, cs, "trigger", sid, "Reset")
    assert "MESSAGE must be one of" in one_line_error(code, err)

    answer = await api(cs, "POST", url + "/clear-cache", {})
    assert answer["status"] == "Accepted"
    code, out, _ = await csms(capsys, cs, "clear-cache", sid)
    assert code == 0 and out.strip() == f"{sid}: ClearCache Accepted"
    assert station.cache_cleared == 2

    answer = await api(
        cs, "POST", url + "/data-transfer",
        {"vendor_id": "Alfen BV", "message_id": "ping", "data": "hello"},
    )  # fmt: skip
    assert answer["status"] == "Accepted" and answer["answer"]["data"] == "hello"
    code, out, _ = await csms(capsys, cs, "datatransfer", sid, "Alfen BV", "--data", "x")
    assert code == 0 and out.strip() == f"{sid}: DataTransfer Accepted: x"
    assert station.data_transfers == [("ping", "hello"), (None, "x")]
    code, _, err = await csms(capsys, cs, "datatransfer", sid, "ACME")
    assert one_line_error(code, err) == (
        f"csms: 409: station {sid} answered UnknownVendorId to DataTransfer"
    )


async def test_composite_and_profiles_by_hand(
    central_system: CentralSystem,
    sim_stations: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cs = central_system
    station = await start_station(sim_stations, cs)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}"
    profile = {
        "chargingProfileId": 901,
        "stackLevel": 3,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
        },
    }
    answer = await api(
        cs, "POST", url + "/charging-profiles", {"connector_id": 1, "charging_profile": profile}
    )
    assert answer["status"] == "Accepted"
    assert any(p.id == 901 for p in station.profiles)

    answer = await api(cs, "GET", url + "/composite-schedule?connector_id=1&duration_s=600")
    assert answer["status"] == "Accepted"
    periods = answer["answer"]["chargingSchedule"]["chargingSchedulePeriod"]
    assert periods[0]["limit"] == 10
    code, out, _ = await csms(capsys, cs, "composite", sid, "1", "--duration", "600")
    assert code == 0 and "composite schedule" in out and "10" in out.splitlines()[2]

    code, out, _ = await csms(capsys, cs, "profile", "clear", sid, "--id", "901")
    assert code == 0 and out.strip() == f"{sid}: ClearChargingProfile Accepted"
    assert not any(p.id == 901 for p in station.profiles)
    code, _, err = await csms(capsys, cs, "profile", "clear", sid, "--id", "901")
    assert one_line_error(code, err) == (
        f"csms: 409: station {sid} answered Unknown to ClearChargingProfile"
    )
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    code, out, _ = await csms(capsys, cs, "profile", "set", sid, "2", str(path))
    assert code == 0 and out.strip() == f"{sid}: SetChargingProfile on connector 2: Accepted"
    assert any(p.id == 901 for p in station.profiles)

    # Checked against the station's capabilities (its configuration snapshot) before sending.
    await until(lambda: has_snapshot(cs, sid))
    too_high = {**profile, "stackLevel": 99}
    answer = await api(
        cs, "POST", url + "/charging-profiles", {"connector_id": 1, "charging_profile": too_high},
        422,
    )  # fmt: skip
    assert "ChargeProfileMaxStackLevel" in answer["detail"]
    path.write_text(json.dumps(too_high))
    code, _, err = await csms(capsys, cs, "profile", "set", sid, "1", str(path))
    assert "422: stackLevel 99 is above the station's" in one_line_error(code, err)


async def has_snapshot(cs: CentralSystem, sid: str) -> bool:
    return await cs.config.store.latest_snapshot(sid) is not None
