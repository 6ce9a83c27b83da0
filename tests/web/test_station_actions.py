"""Remote start and stop from the station page (needs the operator command endpoints of the
operations issue: POST /api/v1/stations/{id}/remote-start and /remote-stop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from csms.sim.ev import SimEv
from tests.support.site_rig import StationSpec, api_until, site_rig


@pytest.mark.timeout(300)
async def test_remote_start_and_stop_from_the_station_page(tmp_path: Path, page: Any) -> None:
    async with site_rig(tmp_path, [StationSpec("ALF-1")]) as rig:
        schema = await rig.api("GET", "/openapi.json")
        if "/api/v1/stations/{station_id}/remote-start" not in schema["paths"]:
            pytest.skip("needs the operator command endpoints of the operations issue (12)")
        rig.station("ALF-1").plug_in(1, SimEv(id_tag=None))  # waits for a remote start
        await page.goto(rig.cs.api_url + "/console/stations/ALF-1")
        start = page.locator("[data-testid=action-remote-start]")
        await start.locator("input[name=id_tag]").fill("TAG-1")
        await start.locator("button").click()
        await start.locator(".answer.okay").wait_for()
        assert "Accepted" in await start.locator(".answer").inner_text()

        # The transaction shows on the page (live) with its energy.
        running = page.locator("[data-testid=running] tr[data-transaction]")
        await running.first.wait_for()
        body = await api_until(
            rig, "/api/v1/stations/ALF-1/transactions", lambda b: any(not t["stop_time"] for t in b)
        )
        tx_id = next(t["id"] for t in body if not t["stop_time"])
        assert await running.first.get_attribute("data-transaction") == str(tx_id)

        stop = page.locator("[data-testid=action-remote-stop]")
        await stop.locator("input[name=transaction_id]").fill(str(tx_id))
        await stop.locator("button").click()
        await stop.locator(".answer.okay").wait_for()
        assert "Accepted" in await stop.locator(".answer").inner_text()
        await page.locator("[data-testid=running] tr[data-transaction]").wait_for(state="detached")

        # A refusal is shown as the API words it (unknown transaction: the station rejects it).
        await stop.locator("input[name=transaction_id]").fill("999999")
        await stop.locator("button").click()
        await stop.locator(".answer.problem").wait_for()
