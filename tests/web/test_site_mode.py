"""The site's mode switched in the console: the API and the balancing core's input follow, and
a wrong value or site is refused with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from balancing import Mode
from tests.support.site_rig import StationSpec, api_until, site_rig
from tests.web.conftest import until


async def test_the_mode_is_switched_from_the_site_page(tmp_path: Path, page: Any) -> None:
    async with site_rig(tmp_path, [StationSpec("ALF-1")], household_a=4.0) as rig:
        await api_until(rig, "/api/v1/sites/site", lambda b: b["mode"] == "balanced")
        await page.goto(rig.cs.api_url + "/console/sites/site")
        await page.select_option("[data-testid=mode]", "pv-surplus")
        await page.click("#site-mode button")

        async def switched() -> bool:
            body = await rig.api("GET", "/api/v1/sites/site")
            return bool(body["mode"] == "pv-surplus")

        await until(switched)
        assert rig.loop.model.balancing_site().mode is Mode.PV_SURPLUS
        await page.wait_for_selector(
            "[data-testid=mode] option[value=pv-surplus][selected]", state="attached"
        )

        # Back to balanced through the API, as the CLI or a script would.
        answer = await rig.api("PUT", "/api/v1/sites/site/mode", json={"mode": "balanced"})
        assert answer == {"site_id": "site", "mode": "balanced"}
        assert rig.loop.model.balancing_site().mode is Mode.BALANCED


async def test_a_wrong_mode_or_site_is_refused(tmp_path: Path) -> None:
    async with (
        site_rig(tmp_path, [StationSpec("ALF-1")]) as rig,
        httpx.AsyncClient(base_url=rig.cs.api_url) as client,
    ):
        wrong = await client.put("/api/v1/sites/site/mode", json={"mode": "turbo"})
        assert wrong.status_code == 422
        unknown = await client.put("/api/v1/sites/nowhere/mode", json={"mode": "balanced"})
        assert unknown.status_code == 404
        assert "nowhere" in unknown.json()["detail"]
        assert rig.loop.model.balancing_site().mode is Mode.BALANCED
