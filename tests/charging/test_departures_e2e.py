"""Departures end to end (issue 11, items 8 and 9): simulated stations, a real meter server, the
API and the CLI. An EV that would miss its departure is served first and the API says so; an
idTag's defaults and the phases learnt from its last session come back."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from csms.charging.sessions import TagDefaults
from csms.cli import main
from tests.support.site_rig import StationSpec, api_until, eventually, site_rig

A, B = "ALF-0001", "ALF-0002"


async def test_a_departure_is_served_first_and_reported(tmp_path, capsys) -> None:
    # 25 A − 1 A margin − 2 A household: 22 A per phase for two 3-phase EVs of 16 A.
    # Profiles renewed 5 s after each write (not 15 s): a share within the deadband of the one
    # in force lands at the next renewal, and waiting for those took most of this test's minute.
    stations = [StationSpec(A), StationSpec(B)]
    renew = {"renew_before_s": 25}  # of the rig's 30 s validity
    async with site_rig(tmp_path, stations, household_a=2.0, charging=renew) as rig:
        await rig.plug_in(A, 1, id_tag="CARDA")
        await rig.plug_in(B, 1, id_tag="CARDB")
        await eventually(
            lambda: (
                rig.station(A).applied_current(1) == 11.0
                and rig.station(B).applied_current(1) == 11.0
            ),
            within_s=60,
        )
        # A must have 20 kWh in an hour: 29 A, more than it can get; it gets all but B's 6 A.
        url = rig.cs.api_url
        code = await asyncio.to_thread(
            main,
            [
                "session", "set", A, "1", "--departure", _in_an_hour(rig.clock.now()),
                "--energy-kwh", "20", "--timezone", "UTC", "--api", url,
            ],
        )  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0 and "will miss its departure" in out, out
        await eventually(
            lambda: (
                rig.station(A).applied_current(1) == 16.0
                and rig.station(B).applied_current(1) == 6.0
            ),
            within_s=60,
        )
        # The station applies a limit before its answer reaches us: the view follows at once.
        path = f"/api/v1/stations/{A}/connectors/1/session"
        view = await api_until(rig, path, lambda v: v["limit_a"] == 16.0, within_s=60)
        assert view["departure_from"] == "session" and view["energy_kwh"] == 20.0
        assert view["forecast"]["on_track"] is False and view["forecast"]["needed_a"] > 16.0
        assert view["limit_a"] == 16.0
        sessions = await rig.api("GET", "/api/v1/sites/site/sessions")
        assert [(s["station_id"], s["forecast"] is None) for s in sessions] == [
            (A, False),
            (B, True),
        ]
        # 2 kWh is easy: back to fair shares, on track.
        await rig.api(
            "PUT",
            f"/api/v1/stations/{A}/connectors/1/session",
            json={"departure": _in_an_hour(rig.clock.now()), "energy_kwh": 2},
        )
        await eventually(lambda: rig.station(B).applied_current(1) == 11.0, within_s=60)
        view = await rig.api("GET", f"/api/v1/stations/{A}/connectors/1/session")
        assert view["forecast"]["on_track"] is True

        # Bad input: 4xx with a message, nothing changed.
        async with httpx.AsyncClient(base_url=url) as client:
            for body, status, words in [
                ({"departure": "yesterday"}, 422, "HH:MM"),
                ({"departure": "2020-01-01T07:00:00+00:00"}, 422, "in the past"),
                ({"departure": "2099-01-01T07:00:00"}, 422, "UTC offset"),
                ({"departure": "07:00", "timezone": "Mars/Base"}, 422, "time zone"),
                ({"phases": 4}, 422, ""),
                ({"energy_kwh": -1}, 422, ""),
            ]:
                r = await client.put(f"/api/v1/stations/{A}/connectors/1/session", json=body)
                assert r.status_code == status and words in r.text, (body, r.text)
            r = await client.put(f"/api/v1/stations/{A}/connectors/2/session", json={})
            assert r.status_code == 404 and "no transaction" in r.json()["detail"]
            r = await client.get("/api/v1/tags/NOBODY/defaults")
            assert r.status_code == 404
        view = await rig.api("GET", f"/api/v1/stations/{A}/connectors/1/session")
        assert view["energy_kwh"] == 2.0

        # idTag defaults: set by the CLI, shown, applied to the running session.
        code = await asyncio.to_thread(
            main,
            [
                "tag", "defaults", "CARDB", "--departure", "07:30", "--energy-kwh", "30",
                "--phases", "3", "--timezone", "Europe/Amsterdam", "--api", url,
            ],
        )  # fmt: skip
        assert code == 0 and "07:30 (Europe/Amsterdam)" in capsys.readouterr().out
        view = await rig.api("GET", f"/api/v1/stations/{B}/connectors/1/session")
        assert (view["departure_from"], view["energy_from"], view["phases_from"]) == (
            "idTag",
            "idTag",
            "idTag",
        )
        # The EV on B is measured on three phases: when it leaves, its idTag learns it.
        rig.station(B).unplug(1)
        await eventually(lambda: _learnt(rig.cs.charging.tag_defaults("CARDB")), within_s=60)
        async with asyncio.timeout(60):  # and stored
            while not any(_learnt(d) for d in await rig.cs.charging.plan_store.defaults()):  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.05)
        tag = await rig.api("GET", "/api/v1/tags/CARDB/defaults")
        assert tag["learned_phases"] == 3 and tag["phases"] == 3 and tag["departure"] == "07:30"


def _learnt(d: TagDefaults | None) -> bool:
    return d is not None and d.id_tag == "CARDB" and d.learned_phases == 3


def _in_an_hour(now: float) -> str:
    return dt.datetime.fromtimestamp(now + 3600, dt.UTC).isoformat()
