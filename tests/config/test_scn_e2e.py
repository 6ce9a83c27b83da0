"""SCN set-up end to end (acceptance 6): three simulated stations, one double, through the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from csms.app import CentralSystem
from csms.sim.configuration import FEATURE_SCN
from csms.sim.station import SimStation

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "scn-garage.toml").read_text()
REBOOT = {"reboot_delay_s": 0.1}


@pytest.fixture
async def api(central_system: CentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    central_system.config.boot_delay_s = 0.05
    async with httpx.AsyncClient(base_url=central_system.api_url, timeout=30) as client:
        yield client


async def members(
    cs: CentralSystem, sim_stations: Any, features: int = FEATURE_SCN
) -> list[SimStation]:
    """ALF-0001 (single), ALF-0002 (double), ALF-0003 (single), each with its first snapshot."""
    stations = []
    for sockets in (1, 2, 1):
        stations += await sim_stations(
            1, cs.ocpp_url, prefix="ALF-", sockets=sockets, unlocked_features=features, **REBOOT
        )
    async with asyncio.timeout(10):
        for station in stations:
            while await cs.config.store.latest_snapshot(station.station_id) is None:  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.02)
    return stations


async def finished_job(api: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            job = (await api.get(f"/api/v1/scn/jobs/{job_id}")).json()
            if job["state"] != "running":
                return job
            await asyncio.sleep(0.05)


async def test_plan_apply_verify_and_apply_again(
    central_system: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    stations = await members(central_system, sim_stations)
    r = await api.post("/api/v1/scn/plan", json={"text": EXAMPLE, "format": "toml"})
    report = r.json()
    assert report["ok"], report["problems"]
    assert report["socket_count"] == 4
    assert [s["socket_ids"] for s in report["stations"]] == [[0], [1, 2], [3]]
    for station in report["stations"]:
        desired = {k["key"]: k["desired"] for k in station["keys"]}
        assert desired["SCN-SocketCount"] == "4" and desired["SCN-NetworkName"] == "GARAGE"
        assert any(c["key"] == "SCN-IsEnabled" for c in station["changes"])
    assert [
        {k["key"]: k["desired"] for k in s["keys"]}["SCN-SocketID"] for s in report["stations"]
    ] == ["0", "1", "3"]

    r = await api.post("/api/v1/scn/apply", json={"text": EXAMPLE, "format": "toml"})
    assert r.status_code == 202, r.text
    job = await finished_job(api, r.json()["id"])
    assert job["state"] == "done", job
    assert all(s["consistent"] for s in job["stations"])
    assert all(c["state"] == "verified" for s in job["stations"] for c in s["changes"])
    assert [s.resets for s in stations] == [["Soft"], ["Soft"], ["Soft"]]  # one reboot each
    for station, socket_id in zip(stations, ("0", "1", "3"), strict=True):
        assert station.config.value("SCN-SocketID") == socket_id
        assert station.config.value("SCN-SocketCount") == "4"
        assert station.config.value("SCN-IsEnabled") == "True"
    assert stations[1].config.value("SCN-PhaseMapping-1") == "8"  # L3L1L2 on both sockets
    assert stations[1].config.value("SCN-PhaseMapping-2") == "8"
    assert stations[1].config.value("Connector2-MaxCurrent") == "16.0"

    again = (await api.post("/api/v1/scn/plan", json={"text": EXAMPLE})).json()
    assert [s["changes"] for s in again["stations"]] == [[], [], []]
    r = await api.post("/api/v1/scn/apply", json={"text": EXAMPLE})
    second = await finished_job(api, r.json()["id"])
    assert second["state"] == "done" and second["changed_keys"] == 0
    assert [s.resets for s in stations] == [["Soft"], ["Soft"], ["Soft"]]  # no reboot at all


async def test_adding_a_station_updates_socket_count_everywhere(
    central_system: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    stations = await members(central_system, sim_stations)
    first = {"network": {"name": "NET1", "total_static_current": 40},
             "stations": [{"id": "ALF-0001"}, {"id": "ALF-0002", "sockets": 2}]}  # fmt: skip
    r = await api.post("/api/v1/scn/apply", json={"plan": first, "reboot": "now"})
    assert (await finished_job(api, r.json()["id"]))["state"] == "done"
    assert stations[0].config.value("SCN-SocketCount") == "3"

    bigger = {**first, "stations": [*first["stations"], {"id": "ALF-0003"}]}
    dry = (await api.post("/api/v1/scn/plan", json={"plan": bigger})).json()
    changes = {s["station_id"]: [c["key"] for c in s["changes"]] for s in dry["stations"]}
    assert changes["ALF-0001"] == ["SCN-SocketCount"] and changes["ALF-0002"] == ["SCN-SocketCount"]
    # the forgotten member is pointed out when the plan leaves it out
    r = await api.post("/api/v1/scn/apply", json={"plan": bigger, "reboot": "now"})
    assert (await finished_job(api, r.json()["id"]))["state"] == "done"
    assert {s.config.value("SCN-SocketCount") for s in stations} == {"4"}
    assert stations[2].config.value("SCN-SocketID") == "3"
    dry = (await api.post("/api/v1/scn/plan", json={"plan": first})).json()
    assert any("ALF-0003" in w and "not in the plan" in w for w in dry["warnings"])


async def test_refused_plans(
    central_system: CentralSystem, api: httpx.AsyncClient, sim_stations: Any
) -> None:
    stations = await members(central_system, sim_stations, features=0)
    r = await api.post("/api/v1/scn/apply", json={"text": EXAMPLE})
    assert r.status_code == 422
    assert "ALF-0001: no Smart Charging Network licence" in r.json()["detail"]
    bad = EXAMPLE.replace('name = "GARAGE"', 'name = "bad-name!"')
    dry = (await api.post("/api/v1/scn/plan", json={"text": bad})).json()
    assert not dry["ok"]
    assert any("only A-Z and 0-9, at most 7 characters" in p for p in dry["problems"])
    r = await api.post("/api/v1/scn/apply", json={"text": bad})
    assert r.status_code == 422 and "bad-name!" in r.json()["detail"]
    r = await api.post("/api/v1/scn/plan", json={"text": "network = [", "format": "toml"})
    assert r.status_code == 422 and "not valid TOML" in r.json()["detail"]
    assert all(s.resets == [] for s in stations)
    assert all(s.config.value("SCN-IsEnabled") == "False" for s in stations)
