"""Console access: with `api_token` a login form and an HttpOnly SameSite=Strict cookie; CSRF
on every state change (with or without a token); /docs works with the network unplugged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from csms.app import CentralSystem, running_central_system
from csms.web.auth import SESSION_COOKIE, Sessions
from tests.support.databases import make_settings

TOKEN = "s3cret-console-token"


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[CentralSystem]:
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3", api_token=TOKEN)
    async with running_central_system(settings) as cs:
        yield cs


async def test_pages_redirect_to_the_login_form_and_a_wrong_token_is_refused(
    guarded: CentralSystem,
) -> None:
    async with httpx.AsyncClient(base_url=guarded.api_url) as client:
        for path in ("/console/", "/console/stations", "/console/sites/x"):
            answer = await client.get(path, headers={"Accept": "text/html"})
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/console/login"
        # Fragments and actions answer 401 without a session (no redirect for scripts).
        answer = await client.post("/console/api/v1/stations/X/reset", json={"type": "Soft"})
        assert answer.status_code == 401
        answer = await client.post("/console/login", data={"token": "wrong"})
        assert answer.status_code == 401
        assert "wrong token" in answer.text
        assert SESSION_COOKIE not in answer.cookies


async def test_login_sets_a_strict_http_only_cookie_and_forms_need_the_csrf_token(
    guarded: CentralSystem,
) -> None:
    async with httpx.AsyncClient(base_url=guarded.api_url) as client:
        answer = await client.post("/console/login", data={"token": TOKEN})
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        page = await client.get("/console/stations")
        assert page.status_code == 200
        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        await client.post("/api/v1/stations", json={"id": "CS-1"}, headers=_bearer())

        # Without the CSRF token (or with another session's) nothing happens.
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            refused = await client.post(
                "/console/api/v1/stations/CS-1/reject", json={}, headers=headers
            )
            assert refused.status_code == 403, refused.text
            assert "CSRF" in refused.json()["detail"]
        station = await client.get("/api/v1/stations/CS-1", headers=_bearer())
        assert station.json()["status"] == "accepted"

        # With it, the API's own route runs (the console adds the API token).
        done = await client.post(
            "/console/api/v1/stations/CS-1/reject", json={}, headers={"X-CSRF-Token": csrf}
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "rejected"


async def test_a_session_from_another_process_or_forged_is_refused() -> None:
    sessions = Sessions("token")
    cookie, session = sessions.issue()
    assert sessions.session(cookie) == session
    assert sessions.session(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
    assert Sessions("token").session(cookie) is None  # another process' secret
    assert not Sessions.csrf_ok(session, None)
    assert not Sessions.csrf_ok(session, "")
    assert Sessions.csrf_ok(session, session.csrf)


async def test_without_a_token_forms_still_need_the_csrf_token(
    central_system: CentralSystem,
) -> None:
    async with httpx.AsyncClient(base_url=central_system.api_url) as client:
        page = await client.get("/console/stations")
        assert page.status_code == 200
        assert SESSION_COOKIE in client.cookies
        refused = await client.post("/console/config/check", json={"key": "k", "value": "v"})
        assert refused.status_code == 403


async def test_login_in_the_browser(guarded: CentralSystem, page: Any) -> None:
    await page.goto(guarded.api_url + "/")
    assert page.url.endswith("/console/login")
    await page.fill("input[name=token]", "nope")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=wrong token")
    await page.fill("input[name=token]", TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/stations")
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: invisible to scripts


async def test_docs_render_with_the_network_unplugged(
    central_system: CentralSystem, page: Any
) -> None:
    """Every request that is not to this machine is aborted; Swagger UI still renders."""
    blocked: list[str] = []

    async def only_loopback(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort()

    await page.route("**/*", only_loopback)
    await page.goto(central_system.api_url + "/docs")
    await page.wait_for_selector(".swagger-ui .info .title")
    await page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/stations']")
    assert "csms" in await page.inner_text(".swagger-ui .info .title")
    # The console's pages load nothing from outside either.
    await page.goto(central_system.api_url + "/console/stations")
    await page.wait_for_selector("h1")
    assert blocked == [], blocked


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
