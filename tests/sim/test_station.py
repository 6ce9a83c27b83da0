"""The simulated station over a real websocket against a minimal in-test central system."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from csms.sim.clock import SimClock
from csms.sim.configuration import FEATURE_ALB, make_license_key
from csms.sim.ev import SimEv
from tests.support.fixtures_sim import MiniCentralSystem, eventually


def statuses(cs: MiniCentralSystem, station_id: str, connector: int) -> list[str]:
    return [
        p["status"]
        for p in cs.messages(station_id, "StatusNotification")
        if p["connectorId"] == connector
    ]


def profile(
    profile_id: int, purpose: str, limit: float, stack: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }


def past_probing(clock: SimClock) -> None:
    clock.advance(60)
    clock.tick_now()


async def test_boot_identity_statuses_and_heartbeats(mini_cs, sim_stations, sim_clock) -> None:
    mini_cs.heartbeat_interval = 60
    (station,) = await sim_stations(1, mini_cs.url, sockets=2, firmware="6.1.0-4321")
    sid = station.station_id
    (boot,) = mini_cs.messages(sid, "BootNotification")
    assert boot["chargePointVendor"] == "Alfen BV"
    assert boot["chargePointModel"] == "NG920-61023"
    assert boot["firmwareVersion"] == "6.1.0-4321"
    await mini_cs.wait_for(
        lambda: all(statuses(mini_cs, sid, c) == ["Available"] for c in (0, 1, 2))
    )
    assert station.config.value("HeartbeatInterval") == "60"  # taken from the boot answer
    assert mini_cs.messages(sid, "Heartbeat") == []
    sim_clock.advance(61)
    sim_clock.tick_now()
    await mini_cs.wait_for(lambda: len(mini_cs.messages(sid, "Heartbeat")) == 1)


async def test_basic_auth_and_new_authorization_key_after_reset(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(
        1, mini_cs.url, password="first-password-123", reboot_delay_s=0.05
    )
    sid = station.station_id

    def basic(password: str) -> str:
        return "Basic " + base64.b64encode(f"{sid}:{password}".encode()).decode()

    assert mini_cs.auth_headers[sid] == basic("first-password-123")
    answer = await mini_cs.call(
        sid, "ChangeConfiguration", {"key": "AuthorizationKey", "value": "second-password-456"}
    )
    assert answer == {"status": "Accepted"}
    assert await mini_cs.call(sid, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    await station.wait_for(lambda: station.boots == 2)
    assert mini_cs.auth_headers[sid] == basic("second-password-456")
    assert mini_cs.connections[sid] == 2 and station.resets == ["Soft"]


async def test_pending_station_answers_configuration_and_boots_on_trigger(
    mini_cs, sim_stations
) -> None:
    mini_cs.boot_status = "Pending"
    (station,) = await sim_stations(1, mini_cs.url, boot=False)
    sid = station.station_id
    await mini_cs.wait_for(lambda: station.registration_status == "Pending")
    answer = await mini_cs.call(sid, "GetConfiguration", {"key": ["NumberOfConnectors"]})
    assert answer["configurationKey"] == [
        {"key": "NumberOfConnectors", "readonly": True, "value": "1"}
    ]
    assert mini_cs.messages(sid, "StatusNotification") == []  # nothing else while Pending
    mini_cs.boot_status = "Accepted"
    answer = await mini_cs.call(sid, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer == {"status": "Accepted"}
    await station.wait_booted()
    assert len(mini_cs.messages(sid, "BootNotification")) == 2


async def test_licence_unlock_and_reboot_keys_through_reset(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url, reboot_delay_s=0.05)
    sid = station.station_id

    async def get(key: str) -> str:
        answer = await mini_cs.call(sid, "GetConfiguration", {"key": [key]})
        return answer["configurationKey"][0]["value"]

    async def change(key: str, value: str) -> str:
        answer = await mini_cs.call(sid, "ChangeConfiguration", {"key": key, "value": value})
        return answer["status"]

    async def reset(kind: str, boots: int) -> None:
        assert await mini_cs.call(sid, "Reset", {"type": kind}) == {"status": "Accepted"}
        await station.wait_for(lambda: station.boots == boots)

    assert await change("Active-LoadBalancing", "On") == "RebootRequired"  # not licensed: ignored
    assert await change("FeatureLicenseKey", make_license_key(FEATURE_ALB)) == "RebootRequired"
    assert await get("UnlockedFeatures") == "0x00000000"
    await reset("Hard", boots=2)
    assert await get("UnlockedFeatures") == "0x00000006"  # ALB includes SLB
    assert await get("Active-LoadBalancing") == "Off"  # the earlier write was ignored
    assert await change("Active-LoadBalancing", "On") == "RebootRequired"
    assert await get("Active-LoadBalancing") == "Off"  # until the reboot
    await reset("Soft", boots=3)
    assert await get("Active-LoadBalancing") == "On"
    assert await change("UnlockedFeatures", "0x7") == "Rejected"
    assert await change("Bogus-Key", "1") == "NotSupported"
    assert await change("Station-MaxCurrent", "99") == "Rejected"


async def test_get_configuration_honours_max_keys_only_for_key_lists(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url, sockets=2)
    sid = station.station_id
    everything = await mini_cs.call(sid, "GetConfiguration", {})
    names = [entry["key"] for entry in everything["configurationKey"]]
    assert len(names) > 35
    assert everything.get("unknownKey", []) == []
    answer = await mini_cs.call(sid, "GetConfiguration", {"key": [*names[:36], "Nope"]})
    assert [entry["key"] for entry in answer["configurationKey"]] == names[:35]


async def test_session_statuses_meter_values_and_stop(mini_cs, sim_stations, sim_clock) -> None:
    (station,) = await sim_stations(
        1, mini_cs.url, sockets=2, config={"MeterValueSampleInterval": "5"}
    )
    sid = station.station_id
    station.plug_in(2, SimEv(max_current_a=16, phases=3, id_tag="CARD-7"))
    tx = await station.wait_transaction(2)
    (start,) = mini_cs.messages(sid, "StartTransaction")
    assert start["connectorId"] == 2 and start["idTag"] == "CARD-7"
    assert start["meterStart"] == int(station.energy_wh(2))
    assert mini_cs.messages(sid, "Authorize") == [{"idTag": "CARD-7"}]
    past_probing(sim_clock)
    await mini_cs.wait_for(lambda: mini_cs.messages(sid, "MeterValues"))
    sample = mini_cs.messages(sid, "MeterValues")[-1]
    assert sample["transactionId"] == tx and sample["connectorId"] == 2
    values = {
        (v["measurand"], v.get("phase")): v["value"]
        for v in sample["meterValue"][0]["sampledValue"]
    }
    assert values[("Current.Import", "L1")] == values[("Current.Import", "L3")] == "16.0"
    assert values[("Current.Offered", None)] == "32.0"  # the station offers 32, the EV takes 16
    station.stop_transaction(2)
    await mini_cs.wait_for(lambda: mini_cs.messages(sid, "StopTransaction"))
    (stop,) = mini_cs.messages(sid, "StopTransaction")
    assert stop["transactionId"] == tx and stop["reason"] == "Local"
    assert stop["meterStop"] > start["meterStart"]
    station.unplug(2)
    await mini_cs.wait_for(lambda: statuses(mini_cs, sid, 2)[-1:] == ["Available"])
    assert statuses(mini_cs, sid, 2) == [
        "Available", "Preparing", "Charging", "Finishing", "Available"
    ]  # fmt: skip


async def test_smart_charging_over_ocpp(mini_cs, sim_stations, sim_clock) -> None:
    (station,) = await sim_stations(
        1, mini_cs.url, sockets=2, config={"ChargeProfileMaxStackLevel": "5"}
    )
    sid = station.station_id

    async def set_profile(connector: int, data: dict[str, Any]) -> str:
        answer = await mini_cs.call(
            sid, "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": data}
        )
        return answer["status"]

    assert await set_profile(1, profile(1, "TxProfile", 10)) == "Rejected"  # no transaction
    station.plug_in(1, SimEv(max_current_a=32, phases=3))
    tx = await station.wait_transaction(1)
    past_probing(sim_clock)
    assert station.applied_current(1) == 32
    assert await set_profile(1, profile(1, "TxProfile", 10.5)) == "Accepted"
    assert station.applied_current(1) == 10.5
    assert await set_profile(1, profile(2, "ChargePointMaxProfile", 20)) == "Rejected"
    assert await set_profile(0, profile(2, "ChargePointMaxProfile", 8, stack=6)) == "Rejected"
    assert await set_profile(0, profile(2, "ChargePointMaxProfile", 8, stack=5)) == "Accepted"
    assert station.applied_current(1) == 8
    composite = await mini_cs.call(sid, "GetCompositeSchedule", {"connectorId": 1, "duration": 600})
    assert composite["status"] == "Accepted" and composite["connectorId"] == 1
    assert composite["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 8.0}
    ]
    watts = await mini_cs.call(
        sid, "GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"}
    )
    # The station only allows Current: −1, "no limit known in that unit" (as MicroOcpp answers).
    assert watts["status"] == "Accepted"
    assert watts["chargingSchedule"]["chargingRateUnit"] == "W"
    [period] = watts["chargingSchedule"]["chargingSchedulePeriod"]
    assert period == {"startPeriod": 0, "limit": -1.0}
    answer = await mini_cs.call(
        sid, "ClearChargingProfile", {"chargingProfilePurpose": "ChargePointMaxProfile"}
    )
    assert answer == {"status": "Accepted"}
    assert station.applied_current(1) == 10.5
    answer = await mini_cs.call(sid, "ClearChargingProfile", {"id": 2})
    assert answer == {"status": "Unknown"}
    station.unplug(1)
    await station.wait_for(lambda: not station.profiles)  # the TxProfile ended with tx
    assert tx not in station.transactions.values()


async def test_txprofile_right_behind_the_start_transaction_answer_is_accepted(
    mini_cs, sim_stations
) -> None:
    mini_cs.inject_after_start = lambda tx: (
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": profile(1, "TxProfile", 9, transactionId=tx)},
    )
    (station,) = await sim_stations(1, mini_cs.url)
    station.plug_in(1, SimEv())
    await mini_cs.wait_for(lambda: any(mini_cs.injected.values()))
    (answer,) = mini_cs.injected.values()
    assert answer is not None and answer[2] == {"status": "Accepted"}


async def test_station_that_rejects_tx_profiles(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url, reject_tx_profile=True)
    station.plug_in(1, SimEv())
    await station.wait_transaction(1)
    for purpose, expected in (("TxProfile", "Rejected"), ("TxDefaultProfile", "Accepted")):
        answer = await mini_cs.call(
            station.station_id,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile(3, purpose, 12)},
        )
        assert answer["status"] == expected


async def test_remote_start_with_profile_and_remote_stop(mini_cs, sim_stations, sim_clock) -> None:
    (station,) = await sim_stations(1, mini_cs.url, sockets=2)
    sid = station.station_id
    station.plug_in(1, SimEv(max_current_a=16, id_tag=None))  # waits for a remote start
    await mini_cs.wait_for(lambda: "Preparing" in statuses(mini_cs, sid, 1))
    assert mini_cs.messages(sid, "Authorize") == []
    answer = await mini_cs.call(
        sid,
        "RemoteStartTransaction",
        {"idTag": "APP-1", "connectorId": 1, "chargingProfile": profile(5, "TxProfile", 8)},
    )
    assert answer == {"status": "Accepted"}
    tx = await station.wait_transaction(1)
    await station.wait_for(lambda: len(station.profiles) == 1)
    assert station.profiles[0].transaction_id == tx
    past_probing(sim_clock)
    assert station.applied_current(1) == 8
    busy = await mini_cs.call(sid, "RemoteStartTransaction", {"idTag": "APP-2", "connectorId": 1})
    assert busy == {"status": "Rejected"}
    assert await mini_cs.call(sid, "RemoteStopTransaction", {"transactionId": tx + 1}) == {
        "status": "Rejected"
    }
    answer = await mini_cs.call(sid, "RemoteStopTransaction", {"transactionId": tx})
    assert answer == {"status": "Accepted"}
    await mini_cs.wait_for(lambda: mini_cs.messages(sid, "StopTransaction"))
    assert mini_cs.messages(sid, "StopTransaction")[0]["reason"] == "Remote"
    await station.wait_for(lambda: station.status(1) == "Finishing")


async def test_remote_start_before_the_ev_arrives(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url)
    answer = await mini_cs.call(station.station_id, "RemoteStartTransaction", {"idTag": "APP-9"})
    assert answer == {"status": "Accepted"}
    station.plug_in(1, SimEv(id_tag=None))
    await station.wait_transaction(1)
    (start,) = mini_cs.messages(station.station_id, "StartTransaction")
    assert start["idTag"] == "APP-9"


async def test_invalid_id_tag_starts_no_transaction(mini_cs, sim_stations) -> None:
    mini_cs.invalid_tags.add("STOLEN")
    (station,) = await sim_stations(1, mini_cs.url)
    station.plug_in(1, SimEv(id_tag="STOLEN"))
    await mini_cs.wait_for(lambda: mini_cs.messages(station.station_id, "Authorize"))
    await station.wait_for(lambda: station.status(1) == "Preparing")
    assert mini_cs.messages(station.station_id, "StartTransaction") == []


async def test_transaction_messages_survive_a_disconnect(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url)
    sid = station.station_id
    station.plug_in(1, SimEv())
    tx = await station.wait_transaction(1)
    await mini_cs.disconnect(sid)
    station.unplug(1)  # while (about to be) offline
    await mini_cs.wait_for(lambda: mini_cs.messages(sid, "StopTransaction"))
    assert mini_cs.messages(sid, "StopTransaction")[0]["transactionId"] == tx
    assert mini_cs.connections[sid] == 2
    await mini_cs.wait_for(lambda: statuses(mini_cs, sid, 1)[-1:] == ["Available"])


async def test_availability_unlock_and_triggered_messages(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url, sockets=2)
    sid = station.station_id
    station.plug_in(1, SimEv())
    await station.wait_transaction(1)
    answer = await mini_cs.call(
        sid, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}
    )
    assert answer == {"status": "Scheduled"}  # connector 1 is busy
    await station.wait_for(lambda: station.status(2) == "Unavailable")
    answer = await mini_cs.call(
        sid, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}
    )
    assert answer == {"status": "Accepted"}
    await mini_cs.wait_for(lambda: mini_cs.messages(sid, "MeterValues"))
    triggered = mini_cs.messages(sid, "MeterValues")[0]["meterValue"][0]["sampledValue"]
    assert {v["context"] for v in triggered} == {"Trigger"}
    assert await mini_cs.call(sid, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    await mini_cs.wait_for(lambda: mini_cs.messages(sid, "StopTransaction"))
    assert mini_cs.messages(sid, "StopTransaction")[0]["reason"] == "UnlockCommand"
    station.unplug(1)
    await station.wait_for(lambda: station.status(1) == "Unavailable")  # scheduled change applied
    answer = await mini_cs.call(sid, "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert answer == {"status": "Accepted"}
    await station.wait_for(lambda: station.status(1) == "Available")
    answer = await mini_cs.call(
        sid, "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 9}
    )
    assert answer == {"status": "Rejected"}


@pytest.mark.parametrize("speed", [20.0])
async def test_speed_factor_makes_heartbeats_come_sooner(mini_cs, sim_stations, speed) -> None:
    mini_cs.heartbeat_interval = 30
    clock = SimClock(speed=speed)
    try:
        (station,) = await sim_stations(1, mini_cs.url, clock=clock)
        # 30 simulated seconds are 1.5 real seconds at 20x.
        await eventually(lambda: len(mini_cs.messages(station.station_id, "Heartbeat")) >= 1, 10)
    finally:
        await clock.close()


async def test_meter_loss_reports_faulted_connector_0(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url, config={"Active-LoadBalancing": "On"})
    sid = station.station_id
    station.meter_lost = True
    await mini_cs.wait_for(lambda: statuses(mini_cs, sid, 0)[-1:] == ["Faulted"])
    faulted = [p for p in mini_cs.messages(sid, "StatusNotification") if p["connectorId"] == 0][-1]
    assert faulted["errorCode"] == "OtherError" and faulted["vendorErrorCode"] == "210"
    assert "safe mode max 6.0A" in faulted["info"]
    station.meter_lost = False
    await mini_cs.wait_for(lambda: statuses(mini_cs, sid, 0)[-1:] == ["Available"])


@pytest.mark.parametrize("strict", [True, False])
async def test_strict_boot_refuses_calls_before_the_boot_answer(
    mini_cs, sim_stations, strict
) -> None:
    mini_cs.inject_before_boot_answer = ("GetConfiguration", {"key": ["HeartbeatInterval"]})
    (station,) = await sim_stations(1, mini_cs.url, strict_boot=strict)
    await mini_cs.wait_for(lambda: next(iter(mini_cs.injected.values())) is not None)
    (answer,) = mini_cs.injected.values()
    assert answer is not None
    if strict:
        assert answer[0] == 4 and answer[2] == "SecurityError"
        assert station.refused_before_boot == ["GetConfiguration"]
    else:
        assert answer[0] == 3 and answer[2]["configurationKey"][0]["key"] == "HeartbeatInterval"
        assert station.refused_before_boot == []
    # After the answer every CALL is handled, also by a strict station.
    mini_cs.inject_before_boot_answer = None
    read = await mini_cs.call(
        station.station_id, "GetConfiguration", {"key": ["NumberOfConnectors"]}
    )
    assert read["configurationKey"][0]["value"] == "1"
    assert len(station.refused_before_boot) == (1 if strict else 0)


async def test_a_reconnect_needs_a_new_boot_answer(mini_cs, sim_stations) -> None:
    (station,) = await sim_stations(1, mini_cs.url, strict_boot=True)
    assert station.boot_answered
    mini_cs.inject_before_boot_answer = ("GetConfiguration", {})
    await mini_cs.disconnect(station.station_id)
    await mini_cs.wait_for(
        lambda: len(mini_cs.messages(station.station_id, "BootNotification")) == 2
    )
    await station.wait_for(lambda: station.refused_before_boot == ["GetConfiguration"])
    await station.wait_booted()
    assert station.boot_answered


async def test_unphased_station_reports_one_current(mini_cs, sim_stations, sim_clock) -> None:
    (station,) = await sim_stations(
        1, mini_cs.url, unphased_current=True, config={"MeterValueSampleInterval": "10"}
    )
    sid = station.station_id
    station.plug_in(1, SimEv(max_current_a=16, phases=1, id_tag="T1"))
    await station.wait_transaction(1)
    past_probing(sim_clock)
    sim_clock.advance(10)
    sim_clock.tick_now()

    def currents() -> list[list[tuple[str | None, float]]]:
        return [
            [
                (v.get("phase"), float(v["value"]))
                for v in sampled
                if v["measurand"] == "Current.Import"
            ]
            for m in mini_cs.messages(sid, "MeterValues")
            for sampled in [m["meterValue"][0]["sampledValue"]]
        ]

    # One value per message, without a phase; after the probing minute the EV's 16 A.
    await mini_cs.wait_for(lambda: [(None, 16.0)] in currents())
    assert all(len(c) == 1 and c[0][0] is None for c in currents())
