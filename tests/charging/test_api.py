"""The smart-charging API and `csms site`: views, operator caps, errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from csms.app import running_central_system
from csms.cli import main
from tests.support.databases import make_settings
from tests.support.site_rig import StationSpec, api_until, eventually, site_rig

A, B = "ALF-0001", "ALF-0002"


async def test_views_caps_and_cli(tmp_path, capsys):
    stations = [StationSpec(A, sockets=2), StationSpec(B, rotation="L3L1L2")]
    async with site_rig(tmp_path, stations, household_a=2.0) as rig:
        await rig.plug_in(A, 1)
        await rig.plug_in(B, 1)
        await eventually(lambda: rig.station(B).applied_current(1) >= 9.5)

        sites = await rig.api("GET", "/api/v1/sites")
        assert [(s["id"], s["stations"]) for s in sites] == [("site", [A, B])]
        site = await rig.api("GET", "/api/v1/sites/site")
        assert site["meter"]["state"] == "ok" and site["safe_mode"] is False
        assert len(site["available_a"]) == 3
        # 12 A over 3 sockets would pause every EV: the double A gets 6 A per socket, B none.
        assert site["safe_default_a"] == 6.0
        assert {s["id"]: s["safe_default_a"] for s in site["stations"]} == {A: 6.0, B: 0.0}
        assert {s["id"]: s["safe_sockets"] for s in site["stations"]} == {
            A: [{"connector_id": 1, "limit_a": 6.0}, {"connector_id": 2, "limit_a": 6.0}],
            B: [{"connector_id": 1, "limit_a": 0.0}],
        }
        assert all(s["profile_writes"]["accepted"] >= 1 for s in site["stations"])
        by_key = {(c["station_id"], c["connector_id"]): c for c in site["connectors"]}
        assert set(by_key) == {(A, 1), (A, 2), (B, 1)}
        assert by_key[(A, 2)]["transaction_id"] is None and by_key[(A, 2)]["target_a"] is None
        charging = by_key[(B, 1)]
        assert charging["source"] in ("grid phase", "ramp") and charging["accepted_a"] >= 9.5
        await eventually(lambda: rig.loop.planner.station(B).connectors[1].composite_a is not None)

        # A connector cap binds at once and is named.
        await rig.api("PUT", f"/api/v1/stations/{B}/charging/connectors/1/cap", json={"limit_a": 7})
        await eventually(lambda: rig.station(B).applied_current(1) == 7.0)
        view = await rig.api("GET", f"/api/v1/stations/{B}/charging")
        [connector] = [c for c in view["connectors"] if c["connector_id"] == 1]
        assert (connector["source"], connector["target_a"]) == ("operator cap (connector)", 7.0)
        assert connector["composite_a"] is not None
        verified = await api_until(rig, f"/api/v1/stations/{B}/charging", lambda v: next(
            c for c in v["connectors"] if c["connector_id"] == 1)["sent_a"] == 7.0)  # fmt: skip
        [connector] = [c for c in verified["connectors"] if c["connector_id"] == 1]
        assert (connector["composite_a"], connector["agrees"]) == (7.0, True)
        assert connector["verification"] == "agrees" and connector["composite_unit"] == "A"
        assert view["method"] == "TxProfile"
        assert {p["purpose"] for p in view["installed_profiles"]} == {
            "TxDefaultProfile",
            "TxProfile",
        }

        # A station cap also goes to the station as a ChargePointMaxProfile, and is removable.
        await rig.api("PUT", f"/api/v1/stations/{A}/charging/cap", json={"limit_a": 8})
        await eventually(
            lambda: any(p.purpose == "ChargePointMaxProfile" for p in rig.station(A).profiles)
        )
        await eventually(lambda: rig.station(A).applied_current(1) <= 8.0)
        await rig.api("DELETE", f"/api/v1/stations/{A}/charging/cap")
        await eventually(
            lambda: all(p.purpose != "ChargePointMaxProfile" for p in rig.station(A).profiles)
        )

        # A site cap is shared by the site's charging connectors.
        await rig.api("PUT", "/api/v1/sites/site/cap", json={"limit_a": 12})
        await eventually(lambda: rig.station(A).applied_current(1) <= 6.0)
        site = await rig.api("GET", "/api/v1/sites/site")
        assert site["caps"]["site_a"] == 12
        # Caps survive in storage.
        assert {c.scope for c in await rig.cs.charging.store.caps()} == {"site", "connector"}

        # Errors name the rule.
        async with httpx.AsyncClient(base_url=rig.cs.api_url) as client:
            missing = await client.get("/api/v1/sites/nowhere")
            assert missing.status_code == 404 and "configured: site" in missing.json()["detail"]
            stranger = await client.get("/api/v1/stations/OTHER/charging")
            assert stranger.status_code == 404 and "no configured site" in stranger.json()["detail"]
            bad = await client.put("/api/v1/sites/site/cap", json={"limit_a": -1})
            assert bad.status_code == 422
            zero = await client.put(
                f"/api/v1/stations/{A}/charging/connectors/0/cap", json={"limit_a": 5}
            )
            assert zero.status_code == 422 and "connector id" in zero.json()["detail"]

        # The CLI (blocking httpx) runs in a thread so the API on this loop can answer it.
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["site", "site", "--api", rig.cs.api_url])
        out = capsys.readouterr().out
        assert code == 0
        assert "grid limit 25 A" in out and "operator cap (site)" in out and f"{B}/1" in out
        code = await asyncio.to_thread(
            main, ["site", "site", "--cap", "none", "--api", rig.cs.api_url]
        )
        assert code == 0 and "operator cap on the site" not in capsys.readouterr().out
        code = await asyncio.to_thread(main, ["site", "--api", rig.cs.api_url])
        assert code == 0 and A in capsys.readouterr().out
        code = await asyncio.to_thread(main, ["site", "nowhere", "--api", rig.cs.api_url])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("csms: 404") and err.count("\n") == 1


async def test_charging_api_without_sites(central_system):
    async with httpx.AsyncClient(base_url=central_system.api_url) as client:
        assert (await client.get("/api/v1/sites")).json() == []
        response = await client.get("/api/v1/sites/home")
        assert response.status_code == 404 and "no site is configured" in response.json()["detail"]


@pytest.mark.parametrize("cap", ["nan", "inf", "abc"])
def test_site_cap_that_is_not_a_finite_number_is_a_one_line_error(capsys, cap):
    # Checked before any request (no API runs here): NaN used to crash the JSON encoder.
    assert main(["site", "--api", "http://127.0.0.1:9", "--cap", cap, "site"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("csms: --cap") and "\n" not in err


async def test_bad_cap_requests_are_4xx_with_a_message(tmp_path):
    sites = [{"id": "home", "meter": {"type": "none"}, "stations": [{"id": A}]}]
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", sites=sites)
    async with (
        running_central_system(settings) as cs,
        httpx.AsyncClient(base_url=cs.api_url) as client,
    ):
        for connector in (0, 2**31, 10**20):  # 10**20 overflowed the database's integer: 500
            response = await client.put(
                f"/api/v1/stations/{A}/charging/connectors/{connector}/cap", json={"limit_a": 5}
            )
            assert response.status_code == 422, (connector, response.text)
            assert "connector id" in response.json()["detail"]
        ok = await client.put(
            f"/api/v1/stations/{A}/charging/connectors/2/cap", json={"limit_a": 5}
        )
        assert ok.status_code == 200
        for literal in (b"NaN", b"Infinity", b"-Infinity"):  # Python's JSON accepts them
            response = await client.put(
                "/api/v1/sites/home/cap",
                content=b'{"limit_a": ' + literal + b"}",
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 422, (literal, response.text)
            assert response.json()["detail"][0]["loc"] == ["body", "limit_a"]


async def test_a_site_without_a_meter_says_so(tmp_path):
    sites = [{"id": "home", "meter": {"type": "none"}, "stations": [{"id": A}]}]
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", sites=sites)
    async with (
        running_central_system(settings) as cs,
        httpx.AsyncClient(base_url=cs.api_url) as client,
    ):
        listed = (await client.get("/api/v1/sites")).json()
        assert listed[0]["meter_state"] == "none"
        site = (await client.get("/api/v1/sites/home")).json()
        assert site["meter"]["state"] == "none"
