"""The site view in a real browser against a running central system with a simulated site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.site_rig import StationSpec, api_until, site_rig
from tests.support.waiting import eventually
from tests.web.conftest import screenshot, until


async def _cell(page: Any, testid: str) -> float | None:
    text = await page.get_attribute(f"[data-testid='{testid}']", "data-value")
    return float(text) if text else None


@pytest.mark.timeout(300)
async def test_site_page_matches_the_api_and_follows_a_meter_step(
    tmp_path: Path, page: Any
) -> None:
    async with site_rig(tmp_path, [StationSpec("ALF-1")], household_a=4.0) as rig:
        await rig.plug_in("ALF-1")
        await api_until(rig, "/api/v1/sites/site", lambda b: b["connectors"][0]["target_a"])
        await page.goto(rig.cs.api_url + "/")
        assert page.url.endswith("/console/sites/site")

        # Per-phase grid values match the API's within one refresh (the page updates each second).
        async def matches_api() -> bool:
            body = await rig.api("GET", "/api/v1/sites/site")
            grid = body["meter"]["last_reading"]["current_a"]
            shown = [await _cell(page, f"grid-L{i}") for i in (1, 2, 3)]
            pairs = zip(shown, grid, strict=True)
            return all(s is not None and abs(s - g) <= 1.0 for s, g in pairs)

        await until(matches_api, 30)

        # Settled before the step (the ramp from the first limit is slow on a loaded machine):
        # the page shows a share well above the 8 A the step leaves (25 − 1 margin − 16).
        async def settled() -> bool:
            target = await _cell(page, "target-ALF-1-1")
            return target is not None and target >= 12.0

        await until(settled, 60)
        points_before = int(await page.get_attribute("#chart", "data-points") or "0")
        target_before = await _cell(page, "target-ALF-1-1")
        await screenshot(page, "console-site")

        # A household step of +12 A per phase: the chart and the socket's limit follow, no reload.
        rig.meter.set_household(16.0)
        await page.evaluate("window.__marker = 'no reload'")

        async def limit_dropped() -> bool:
            target = await _cell(page, "target-ALF-1-1")
            return target is not None and target_before is not None and target < target_before

        await until(limit_dropped, 60)
        grid_l1 = await _cell(page, "grid-L1")
        assert grid_l1 is not None and grid_l1 >= 16.0
        points_after = int(await page.get_attribute("#chart", "data-points") or "0")
        assert points_after > points_before
        assert await page.evaluate("window.__marker") == "no reload"


@pytest.mark.timeout(300)
async def test_a_station_cap_set_in_the_page_reaches_the_station(tmp_path: Path, page: Any) -> None:
    async with site_rig(tmp_path, [StationSpec("ALF-1")], household_a=2.0) as rig:
        await rig.plug_in("ALF-1")
        await page.goto(rig.cs.api_url + "/console/sites/site")

        # On a phone-sized screen the page does not scroll sideways (wide tables scroll in
        # their card).
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.set_viewport_size({"width": 1280, "height": 900})
        row = page.locator("tr", has=page.locator("[data-testid='cap-ALF-1']"))
        await page.fill("[data-testid='cap-ALF-1']", "8")
        await row.locator("button").click()
        await row.locator(".answer.okay").wait_for()

        # The station's own composite schedule shows the cap.
        station = rig.station("ALF-1")

        def composite_capped() -> bool:
            schedule = station.model.composite(1, 60, "A")
            return bool(schedule.periods) and schedule.periods[0].limit <= 8.0

        await eventually(composite_capped, 60)
        await page.goto(rig.cs.api_url + "/console/stations/ALF-1")
        await page.wait_for_selector("[data-testid='method']")
        await screenshot(page, "console-station")
