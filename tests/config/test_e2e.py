"""Configuration management end to end: simulated Alfen stations, the real central system, HTTP.

Acceptance of issue 4: snapshots after boot and their diffs (1), refused values (2), reboot
policies (3), the offline queue (4) and the licence workflow (5).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from csms.app import CentralSystem, running_central_system
from csms.sim.ev import SimEv
from csms.sim.station import SimStation
from tests.support.databases import make_settings

FAST_BOOT = 0.05  # pacing delay after boot, shortened for tests
REBOOT = {"reboot_delay_s": 0.1}


async def until(check: Callable[[], Any], within_s: float = 60.0, every_s: float = 0.05) -> Any:
    """Poll an async `check` until it returns something truthy; return that (the bound is
    generous: it only stops a broken test on a loaded machine from hanging)."""
    async with asyncio.timeout(within_s):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(every_s)


@pytest.fixture
async def cs(central_system: CentralSystem) -> CentralSystem:
    central_system.config.boot_delay_s = FAST_BOOT
    return central_system


@pytest.fixture
async def api(cs: CentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cs.api_url, timeout=30) as client:
        yield client


async def latest_snapshot(api: httpx.AsyncClient, station_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await api.get(f"/api/v1/stations/{station_id}/configuration")
        return r.json() if r.status_code == 200 else None

    return await until(check)


async def change_state(
    api: httpx.AsyncClient, station_id: str, change_id: int, states: set[str]
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await api.get(f"/api/v1/stations/{station_id}/configuration/changes/{change_id}")
        body = r.json()
        return body if body["state"] in states else None

    return await until(check)


def keys_of(snapshot: dict[str, Any]) -> dict[str, str | None]:
    return {k["key"]: k["value"] for k in snapshot["keys"]}


async def test_snapshot_after_boot_and_local_change_in_diff(
    cs: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    (station,) = await sim_stations(1, cs.ocpp_url, sockets=2, **REBOOT)

    async def boot_snapshot() -> dict[str, Any] | None:
        # On a loaded machine the post-connect pause can end before the BootNotification
        # arrives: a "connect" snapshot comes first and the boot's own read follows.
        latest = await latest_snapshot(api, station.station_id)
        return latest if latest["reason"] == "boot" else None

    first = await until(boot_snapshot)
    values = keys_of(first)
    assert values["GetConfigurationMaxKeys"] == "35"
    assert len(values) > 35  # the whole list, not one page
    assert values["Station-MaxCurrent"] == "32.0"
    known = {k["key"]: k for k in first["keys"]}
    assert known["SCN-NetworkName"]["known"] and known["SCN-NetworkName"]["reboot"]

    station.config.set_internal("Station-MaxCurrent", "20.0")  # an installer's laptop
    r = await api.get(f"/api/v1/stations/{station.station_id}/configuration?refresh=true")
    assert r.status_code == 200 and r.json()["reason"] == "request"
    diff = (await api.get(f"/api/v1/stations/{station.station_id}/configuration/diff")).json()
    assert diff["from_snapshot"]["id"] == first["snapshot_id"]
    assert diff["changes"] == [
        {"key": "Station-MaxCurrent", "change": "changed", "old": "32.0", "new": "20.0"}
    ]
    history = await api.get(f"/api/v1/stations/{station.station_id}/configuration/snapshots")
    assert [s["reason"] for s in history.json()][:2] == ["request", "boot"]
    one = await api.get(f"/api/v1/stations/{station.station_id}/configuration/Station-MaxCurrent")
    assert one.json()["value"] == "20.0" and one.json()["unit"] == "A"


async def test_reads_are_split_by_get_configuration_max_keys(
    cs: CentralSystem, sim_stations: Any
) -> None:
    (station,) = await sim_stations(
        1, cs.ocpp_url, config={"GetConfigurationMaxKeys": "4"}, record_frames=True, **REBOOT
    )
    keys = ["HeartbeatInterval", "Station-MaxCurrent", "SCN-SocketID", "SCN-SocketCount",
            "MeterValueSampleInterval", "Phase-Connected", "UnlockedFeatures",
            "NoSuchKey"]  # fmt: skip
    read = await cs.config.read_keys(station.station_id, keys)
    assert set(read.values) == set(keys) - {"NoSuchKey"}
    assert read.unknown == ("NoSuchKey",)
    sizes = [len(msg[3].get("key") or []) for msg in _calls(station, "GetConfiguration")]
    assert sizes and max(sizes) <= 4


def _calls(station: SimStation, action: str) -> list[list[Any]]:
    import json

    frames = [json.loads(text) for direction, text in station.frames if direction == "in"]
    return [f for f in frames if f[0] == 2 and f[2] == action]


INVALID = [
    ("SCN-NetworkName", "bad-name!", "only A-Z and 0-9, at most 7 characters"),
    ("SCN-NetworkName", "ABCDEFGH", "at most 7 characters"),
    ("SCN-SocketID", "200", "within 0–128"),
    ("SCN-PhaseMapping-1", "12", "within 1–9"),
    ("Station-MaxCurrent", "abc", "must be a number"),
    ("SCN-AlternatingPeriod", "10", "within 60–36000 s"),
    ("FeatureLicenseKey", "12345.ABCD", "six groups of 4 hex digits"),
    ("UnlockedFeatures", "0x1", "read-only"),
    ("Vendor-Secret", "1", "unknown key"),
]


async def test_invalid_values_are_refused_and_nothing_is_sent(
    cs: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    (station,) = await sim_stations(1, cs.ocpp_url, record_frames=True, **REBOOT)
    sid = station.station_id
    for key, value, rule in INVALID:
        r = await api.put(f"/api/v1/stations/{sid}/configuration/{key}", json={"value": value})
        assert r.status_code == 422, (key, r.text)
        assert rule in r.json()["detail"] and key in r.json()["detail"]
    r = await api.post(f"/api/v1/stations/{sid}/license", json={"key": "not-a-key"})
    assert r.status_code == 422 and "FeatureLicenseKey" in r.json()["detail"]
    r = await api.put(f"/api/v1/stations/{sid}/configuration/X", json={"value": "1", "reboot": "x"})
    assert r.status_code == 422
    assert _calls(station, "ChangeConfiguration") == []
    assert (await api.get(f"/api/v1/stations/{sid}/configuration/changes")).json() == []
    r = await api.put("/api/v1/stations/NOPE/configuration/HeartbeatInterval", json={"value": "60"})
    assert r.status_code == 404


async def test_accepted_change_is_verified_and_force_sends_unknown_keys(
    cs: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    (station,) = await sim_stations(1, cs.ocpp_url, **REBOOT)
    sid = station.station_id
    r = await api.put(
        f"/api/v1/stations/{sid}/configuration/Station-MaxCurrent", json={"value": "20"}
    )
    body = r.json()
    assert (body["status"], body["state"], body["value"]) == ("Accepted", "verified", "20.0")
    assert station.config.value("Station-MaxCurrent") == "20.0"
    r = await api.put(
        f"/api/v1/stations/{sid}/configuration/Vendor-Secret?force=true", json={"value": "1"}
    )
    assert r.json()["status"] == "NotSupported" and r.json()["state"] == "not-supported"
    # the station rejects what it does not like even when we let it through
    r = await api.put(
        f"/api/v1/stations/{sid}/configuration/Station-MaxCurrent",
        json={"value": "80", "force": True},
    )
    assert r.json()["status"] == "Rejected" and "validation skipped" in r.json()["warnings"][0]
    # a feature without licence: accepted (and ignored) by the station — we warn
    r = await api.put(
        f"/api/v1/stations/{sid}/configuration/Active-LoadBalancing",
        json={"value": "On", "reboot": "never"},
    )
    assert r.json()["status"] == "RebootRequired"
    assert "no licence" in r.json()["warnings"][0]


async def test_reboot_policies_never_and_when_idle(
    cs: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    (station,) = await sim_stations(1, cs.ocpp_url, **REBOOT)
    sid = station.station_id
    await latest_snapshot(api, sid)
    station.plug_in(1, SimEv(max_current_a=16))
    await station.wait_transaction(1)
    url = f"/api/v1/stations/{sid}/configuration"

    never = await api.put(f"{url}/Phase-Connected", json={"value": "L3L1L2", "reboot": "never"})
    assert never.json()["status"] == "RebootRequired"
    assert never.json()["state"] == "reboot-required"

    idle = (await api.put(f"{url}/SmartChargingMode", json={"value": "OCPP1.5+"})).json()
    assert (idle["status"], idle["state"], idle["reboot"]) == (
        "RebootRequired",
        "reboot-pending",
        "when-idle",
    )
    waiting = await change_state(api, sid, idle["id"], {"reboot-pending"})
    assert station.resets == []  # a charging session is never interrupted
    assert station.config.value("Phase-Connected") == "L1L2L3"

    async def says_waiting() -> bool:
        r = await api.get(f"{url}/changes/{idle['id']}")
        return "waits until transaction" in (r.json()["detail"] or "")

    await until(says_waiting)
    assert waiting["state"] == "reboot-pending"

    station.stop_transaction(1)
    done = await change_state(api, sid, idle["id"], {"verified", "not-verified"})
    assert done["state"] == "verified" and done["reported_value"] == "OCPP1.5+"
    assert station.resets == ["Soft"]
    # the reboot also brought the `never` change into effect, and we saw it
    earlier = await change_state(api, sid, never.json()["id"], {"verified", "not-verified"})
    assert earlier["state"] == "verified"

    async def both_snapshots() -> list[dict[str, Any]] | None:
        # The reboot's snapshot is stored after the station booted again: wait for it.
        snapshots: list[dict[str, Any]] = (await api.get(f"{url}/snapshots")).json()
        return snapshots if len(snapshots) >= 2 else None

    snapshots = await until(both_snapshots)
    assert [s["reason"] for s in snapshots][:1] == ["boot"] and len(snapshots) == 2


async def test_reboot_now_and_reset_endpoint(
    cs: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    (station,) = await sim_stations(1, cs.ocpp_url, **REBOOT)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}/configuration"
    now = (await api.put(f"{url}/Phase-Connected", json={"value": "L2", "reboot": "now"})).json()
    done = await change_state(api, sid, now["id"], {"verified", "not-verified"})
    assert done["state"] == "verified" and station.resets == ["Soft"]

    r = await api.post(f"/api/v1/stations/{sid}/reset", json={"type": "Hard"})
    assert r.json() == {"station_id": sid, "type": "Hard", "status": "Accepted"}
    await station.wait_for(lambda: station.resets == ["Soft", "Hard"])
    await station.wait_booted()
    await station.stop()
    r = await api.post(f"/api/v1/stations/{sid}/reset", json={"type": "Soft"})
    assert r.status_code == 409 and "offline" in r.json()["detail"]


async def test_changes_for_an_offline_station_are_queued_and_applied_in_order(
    cs: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    (station,) = await sim_stations(1, cs.ocpp_url, **REBOOT)
    sid = station.station_id
    await latest_snapshot(api, sid)
    await station.stop()
    await until(lambda: _offline(api, sid))
    url = f"/api/v1/stations/{sid}/configuration"
    first = (await api.put(f"{url}/HeartbeatInterval", json={"value": "60"})).json()
    second = (await api.put(f"{url}/MeterValueSampleInterval", json={"value": "30"})).json()
    third = (await api.put(f"{url}/HeartbeatInterval", json={"value": "120"})).json()
    assert [c["status"] for c in (first, second, third)] == ["Queued"] * 3
    queue = (await api.get(f"{url}/changes?state=queued")).json()
    assert [c["id"] for c in queue] == [first["id"], second["id"], third["id"]]

    await station.start()
    for change in (first, second, third):
        await change_state(api, sid, change["id"], {"verified"})
    records = (await api.get(f"{url}/changes")).json()
    sent = [c["sent_at"] for c in records]
    assert sent == sorted(sent)
    assert station.config.value("HeartbeatInterval") == "120"  # the last one wins
    assert station.config.value("MeterValueSampleInterval") == "30"


async def _offline(api: httpx.AsyncClient, sid: str) -> bool:
    return not (await api.get(f"/api/v1/stations/{sid}")).json()["online"]


async def test_queued_change_is_applied_while_the_station_is_pending(
    tmp_path: Path, sim_stations: Any
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/p.sqlite3", unknown_stations="pending")
    async with (
        running_central_system(settings) as cs,
        httpx.AsyncClient(base_url=cs.api_url) as api,
    ):
        cs.config.boot_delay_s = FAST_BOOT
        r = await api.post("/api/v1/stations", json={"id": "NEW-0001", "approve": False})
        assert r.status_code == 201
        r = await api.put(
            "/api/v1/stations/NEW-0001/configuration/Station-MaxCurrent", json={"value": "16"}
        )
        assert r.json()["status"] == "Queued"
        (station,) = await sim_stations(1, cs.ocpp_url, prefix="NEW-", boot=False, **REBOOT)
        done = await change_state(api, "NEW-0001", r.json()["id"], {"verified"})
        assert done["status"] == "Accepted"
        assert station.registration_status == "Pending"
        assert station.config.value("Station-MaxCurrent") == "16.0"


async def test_license_workflow_unlocks_scn(
    cs: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    from csms.sim.configuration import make_license_key

    (station,) = await sim_stations(1, cs.ocpp_url, **REBOOT)
    sid = station.station_id
    await latest_snapshot(api, sid)
    r = await api.post(f"/api/v1/stations/{sid}/license", json={"key": make_license_key(0x1)})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["state"] == "running" and job["station_answer"] == "RebootRequired"
    assert job["features_before"] == "0x00000000"

    async def finished() -> dict[str, Any] | None:
        status = (await api.get(f"/api/v1/stations/{sid}/license")).json()
        return status if status["jobs"][0]["state"] != "running" else None

    status = await finished_or_fail(finished)
    latest = status["jobs"][0]
    assert latest["state"] == "done"
    assert latest["unlocked"] == ["ALB", "SCN", "SLB"]
    assert "Smart Charging Network" in latest["unlocked_names"]
    assert status["unlocked_features"] == "0x00000007"
    assert station.resets == ["Soft"]

    # a well-formed key the station does not recognise unlocks nothing: reported, not hidden
    r = await api.post(
        f"/api/v1/stations/{sid}/license", json={"key": "0000.0010.ABCD.ABCD.ABCD.ABCD"}
    )
    status = await finished_or_fail(finished)
    assert status["jobs"][0]["state"] == "failed"
    assert "no new features" in status["jobs"][0]["detail"]


async def finished_or_fail(check: Callable[[], Any]) -> Any:
    return await until(check, within_s=20)
