"""Tag management in the console: add, block, unblock and remove through the tags API, and a bad
value shows the API's reason inline with nothing stored."""

from __future__ import annotations

from typing import Any

import httpx

from csms.app import CentralSystem
from tests.web.conftest import until


async def _status(cs: CentralSystem, id_tag: str) -> int | str:
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        answer = await client.get(f"/api/v1/tags/{id_tag}")
    return answer.json()["status"] if answer.status_code == 200 else answer.status_code


async def test_tags_are_managed_from_the_page(central_system: CentralSystem, page: Any) -> None:
    cs = central_system
    await page.goto(f"{cs.api_url}/console/tags")
    form = page.locator("#tag-add")
    await form.locator("input[name=id_tag]").fill("04A1B2C3")
    await form.locator("input[name=note]").fill("new employee")
    await form.locator("button").click()
    await until(lambda: _is(cs, "04A1B2C3", "Accepted"))
    row = page.locator("tr[data-tag='04A1B2C3']")
    await row.wait_for()  # the page shows the new list
    assert "new employee" in await row.inner_text()

    await row.get_by_role("button", name="block").click()
    await until(lambda: _is(cs, "04A1B2C3", "Blocked"))
    await page.wait_for_selector("tr[data-tag='04A1B2C3'] >> text=unblock")
    assert await page.inner_text("tr[data-tag='04A1B2C3'] .status") == "Blocked"

    await page.locator("tr[data-tag='04A1B2C3']").get_by_role("button", name="unblock").click()
    await until(lambda: _is(cs, "04A1B2C3", "Accepted"))

    await page.wait_for_selector("tr[data-tag='04A1B2C3'] >> text=block")
    await page.locator("tr[data-tag='04A1B2C3']").get_by_role("button", name="remove").click()
    await until(lambda: _is(cs, "04A1B2C3", 404))


async def test_a_bad_expiry_shows_the_reason_and_stores_nothing(
    central_system: CentralSystem, page: Any
) -> None:
    cs = central_system
    await page.goto(f"{cs.api_url}/console/tags")
    form = page.locator("#tag-add")
    await form.locator("input[name=id_tag]").fill("CARD-9")
    await form.locator("input[name=expiry]").fill("next tuesday")
    await form.locator("button").click()
    answer = form.locator(".answer.problem")
    await answer.wait_for()
    assert "'next tuesday' is not an ISO 8601 time" in await answer.inner_text()
    assert await _status(cs, "CARD-9") == 404


async def _is(cs: CentralSystem, id_tag: str, want: int | str) -> bool:
    return await _status(cs, id_tag) == want
