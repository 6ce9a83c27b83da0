"""The configuration page and the SCN wizard in a real browser, against simulated stations."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from csms.app import CentralSystem
from csms.sim.configuration import FEATURE_SCN
from tests.web.conftest import screenshot, until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scn-garage.toml"
REBOOT = {"reboot_delay_s": 0.1}


async def wait_snapshot(cs: CentralSystem, station_id: str) -> None:
    async with asyncio.timeout(30):
        while await cs.config.store.latest_snapshot(station_id) is None:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.05)


async def _changes(cs: CentralSystem, station_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        answer = await client.get(f"/api/v1/stations/{station_id}/configuration/changes")
    body: list[dict[str, Any]] = answer.json()
    return body


@pytest.mark.timeout(300)
async def test_an_invalid_value_shows_the_catalog_message_and_nothing_is_sent(
    central_system: CentralSystem, sim_stations: Any, page: Any
) -> None:
    cs = central_system
    (station,) = await sim_stations(1, cs.ocpp_url, prefix="ALF-", **REBOOT)
    sid = station.station_id
    await wait_snapshot(cs, sid)
    before = station.model.config.number("Station-MaxCurrent")
    await page.goto(f"{cs.api_url}/console/stations/{sid}/config")
    row = page.locator("tr[data-key='Station-MaxCurrent']")
    await row.locator("input.value").fill("999")
    await row.locator("button").click()
    answer = row.locator(".answer.problem")
    await answer.wait_for()
    message = await answer.inner_text()
    assert "Station-MaxCurrent" in message and "999" in message, message
    assert await row.locator("input.value").get_attribute("aria-invalid") == "true"
    assert await _changes(cs, sid) == []
    assert station.model.config.number("Station-MaxCurrent") == before

    # A valid value goes to the station and its answer is shown.
    await row.locator("input.value").fill("20")
    await row.locator("button").click()
    await row.locator(".answer.okay").wait_for()
    assert "Accepted" in await row.locator(".answer").inner_text()
    assert [float(c["value"]) for c in await _changes(cs, sid)] == [20.0]
    await page.wait_for_selector("[data-testid=changes] tr[data-change]")


@pytest.mark.timeout(300)
async def test_an_scn_plan_goes_through_dry_run_apply_and_verification(
    central_system: CentralSystem, sim_stations: Any, page: Any
) -> None:
    cs = central_system
    cs.config.boot_delay_s = 0.05
    for sockets in (1, 2, 1):
        (station,) = await sim_stations(
            1, cs.ocpp_url, prefix="ALF-", sockets=sockets, unlocked_features=FEATURE_SCN, **REBOOT
        )
        await wait_snapshot(cs, station.station_id)
    await page.goto(f"{cs.api_url}/console/scn")
    assert await page.is_disabled("#scn-apply")
    await page.set_input_files("#scn-file", str(EXAMPLE))

    async def text_loaded() -> bool:
        return "GARAGE" in await page.input_value("#scn-text")

    await until(text_loaded, 30)
    await page.click("#scn-dry-run")
    verdict = page.locator("[data-testid=scn-verdict]")
    await verdict.wait_for()
    assert await verdict.get_attribute("data-ok") == "yes"
    assert "SCN-SocketCount" in await page.inner_text("#scn-report table[data-station='ALF-0002']")
    assert await page.is_enabled("#scn-apply")

    await page.click("#scn-apply")
    state = page.locator("[data-testid=scn-job-state]")
    await state.wait_for()

    async def done() -> bool:
        return await state.inner_text() == "done"

    await until(done, 120)
    for sid in ("ALF-0001", "ALF-0002", "ALF-0003"):
        assert await page.inner_text(f"[data-testid='verify-{sid}']") == "verified"
    await screenshot(page, "console-scn")
