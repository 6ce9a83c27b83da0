"""Fixtures of the console's browser tests: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it drives the system's `chromium` through
`executable_path`. Without one the tests skip, except with CI=true, where that is a failure
(`.ci/run` installs it with apt-get).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The system's chromium (`CSMS_TEST_CHROMIUM` overrides), or None."""
    given = os.environ.get("CSMS_TEST_CHROMIUM")
    if given:
        return given
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        message = "no chromium on this machine (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": required when CI=true")
        pytest.skip(message)
    return path


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A desktop-sized page that fails the test on any JavaScript error."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(30_000)
    yield page
    await context.close()
    assert not errors, errors


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


async def screenshot(page: Any, name: str) -> None:
    """Save a screenshot for the README when `CSMS_SCREENSHOTS=1` (`make screenshots`)."""
    if os.environ.get("CSMS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def until(predicate: Callable[[], Awaitable[bool]], within_s: float = 30.0) -> None:
    """Poll an async `predicate` (reading the page or the API) until it holds; TimeoutError
    after `within_s`, a generous bound that only stops a broken test from hanging."""
    async with asyncio.timeout(within_s):
        while not await predicate():  # noqa: ASYNC110 - polling the page or the API
            await asyncio.sleep(0.1)
