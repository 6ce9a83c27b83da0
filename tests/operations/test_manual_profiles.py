"""Charging profiles by hand on a station a site's control loop manages: below the loop's stack
levels, the manual limit becomes the connector's operator cap (shown in the site view) until the
profile is cleared, so the loop counts it and never fights it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from csms.app import CentralSystem, running_central_system
from tests.operations.helpers import api, start_station, until
from tests.support.cli import csms, one_line_error
from tests.support.databases import make_settings

SITE = {"id": "home", "grid_limit_a": 25, "stations": [{"id": "ALF-0001"}]}


@pytest.fixture
async def site_system(tmp_path: Path) -> AsyncIterator[CentralSystem]:
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", sites=[SITE])
    async with running_central_system(settings) as cs:
        cs.config.boot_delay_s = 0.05
        yield cs


def profile(stack_level: int, limit: float, unit: str = "A") -> dict[str, Any]:
    return {
        "chargingProfileId": 777,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": 3}],
        },
    }


async def connector_caps(cs: CentralSystem) -> list[dict[str, Any]]:
    site = await api(cs, "GET", "/api/v1/sites/home")
    return list(site["caps"]["connectors"])


async def test_a_manual_profile_caps_its_connector_until_cleared(
    site_system: CentralSystem,
    sim_stations: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cs = site_system
    station = await start_station(sim_stations, cs)
    sid = station.station_id
    url = f"/api/v1/stations/{sid}/charging-profiles"

    async def snapshot() -> bool:
        return await cs.config.store.latest_snapshot(sid) is not None

    await until(snapshot)
    # The sim's ChargeProfileMaxStackLevel is 15: 14 and 15 are the loop's.
    body = {"connector_id": 1, "charging_profile": profile(14, 8)}
    answer = await api(cs, "POST", url, body, 422)
    assert answer["detail"] == (
        "stackLevel 14: levels 14 and 15 are the control loop's on this station; use 13 or lower"
    )
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile(2, 8)))
    code, out, _ = await csms(capsys, cs, "profile", "set", sid, "1", str(path))
    assert code == 0 and out.strip() == f"{sid}: SetChargingProfile on connector 1: Accepted"
    assert any(p.id == 777 and p.stack_level == 2 for p in station.profiles)
    (listed,) = await api(cs, "GET", url)
    assert listed["limit_a"] == 8.0 and listed["stack_level"] == 2
    assert await connector_caps(cs) == [{"station_id": sid, "connector_id": 1, "limit_a": 8.0}]

    # Watts where the station schedules in amps only: refused before sending.
    body = {"connector_id": 1, "charging_profile": profile(1, 4140, "W")}
    answer = await api(cs, "POST", url, body, 422)
    assert (
        answer["detail"]
        == "the station accepts limits in A only (ChargingScheduleAllowedChargingRateUnit)"
    )
    # A second profile on the same connector: the lower limit is the cap.
    body = {"connector_id": 1, "charging_profile": {**profile(1, 6), "chargingProfileId": 778}}
    await api(cs, "POST", url, body)
    assert await connector_caps(cs) == [{"station_id": sid, "connector_id": 1, "limit_a": 6.0}]

    await api(cs, "DELETE", url + "?id=778")
    assert await connector_caps(cs) == [{"station_id": sid, "connector_id": 1, "limit_a": 8.0}]
    code, out, _ = await csms(capsys, cs, "profile", "clear", sid, "--connector", "1",
                              "--purpose", "TxDefaultProfile", "--stack-level", "2")  # fmt: skip
    assert code == 0 and out.strip() == f"{sid}: ClearChargingProfile Accepted"
    assert await connector_caps(cs) == [] and await api(cs, "GET", url) == []
    assert not any(p.id == 777 for p in station.profiles)

    await station.stop()
    code, _, err = await csms(capsys, cs, "profile", "set", sid, "1", str(path))
    assert one_line_error(code, err) == f"csms: 409: station {sid} is offline"
