"""The API's honesty (issue 10, items 15 and 17): error bodies as documented, a health check that
looks at the database, documentation pages that work offline and are public on purpose."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jsonschema
import pytest

from csms.app import CentralSystem, running_central_system
from csms.settings import Settings
from tests.support.databases import make_settings
from tests.support.tcp_proxy import TcpProxy

TOKEN = "a-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HUGE = "99999999999999999999"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(f"sqlite:///{tmp_path}/db.sqlite3", **overrides)


def documented_schema(spec: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the OpenAPI document gives for this answer (its code, else `default`)."""
    responses = spec["paths"][path][method]["responses"]
    documented = responses.get(str(status)) or responses.get("default")
    assert documented is not None, f"{method.upper()} {path}: {status} is not documented"
    schema = documented["content"]["application/json"]["schema"]
    return {**schema, "components": spec["components"]}


def check_body(spec: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    schema = documented_schema(spec, path, method, response.status_code)
    try:
        jsonschema.Draft202012Validator(schema).validate(response.json())
    except jsonschema.ValidationError as exc:
        raise AssertionError(
            f"{method.upper()} {path} → {response.status_code} {response.text[:300]}: "
            f"does not match the documented schema: {exc.message}"
        ) from None


def _concrete(path: str) -> str:
    """A path template with unknown ids (strings) and too large row ids (integers)."""
    return re.sub(
        r"\{([^}]+)\}",
        lambda m: HUGE if m.group(1).endswith("_id") and m.group(1) != "station_id" else "NOPE",
        path,
    )


async def test_every_answer_matches_the_openapi_document(tmp_path: Path) -> None:
    async with (
        running_central_system(_settings(tmp_path, api_token=TOKEN)) as cs,
        httpx.AsyncClient(base_url=cs.api_url, timeout=60) as client,
    ):
        spec = (await client.get("/openapi.json")).json()
        seen: set[int] = set()
        for path, item in spec["paths"].items():
            for method in item:
                url = _concrete(path)
                # Without the token: 401 with a message.
                response = await client.request(method, url)
                assert response.status_code == 401, (method, path, response.text)
                check_body(spec, path, method, response)
                # Unknown ids, and a body that fits no model.
                body = {"json": {"no such field": [1]}} if method in ("post", "put") else {}
                response = await client.request(method, url, headers=AUTH, **body)
                if response.status_code >= 400:
                    seen.add(response.status_code)
                    check_body(spec, path, method, response)
                elif method == "get" and "{" not in path:  # answers are as documented too
                    assert response.status_code == 200, (path, response.text)
                    check_body(spec, path, method, response)
        # A refused value is a 422 with one message (not pydantic's list): documented too.
        path = "/api/v1/scn/plan"
        response = await client.post(
            path, headers=AUTH, json={"text": "[[not toml", "format": "toml"}
        )
        assert response.status_code == 422 and isinstance(response.json()["detail"], str)
        check_body(spec, path, "post", response)
        response = await client.post("/api/v1/stations", headers=AUTH, json={"id": "a/b"})
        assert response.status_code == 422 and isinstance(response.json()["detail"], list)
        check_body(spec, "/api/v1/stations", "post", response)
    assert {404, 422} <= seen, seen


async def test_docs_are_public_and_the_api_is_not(tmp_path: Path) -> None:
    """A browser cannot send the Bearer header: the pages and the schema answer without it."""
    async with (
        running_central_system(_settings(tmp_path, api_token=TOKEN)) as cs,
        httpx.AsyncClient(base_url=cs.api_url) as client,
    ):
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui.css"):
            assert (await client.get(path)).status_code == 200, path
        for path in ("/api/v1/stations", "/api/v1/health", "/metrics"):
            assert (await client.get(path)).status_code == 401, path
            assert (await client.get(path, headers=AUTH)).status_code == 200, path
        spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]  # Swagger UI's "Authorize"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(central_system: CentralSystem, page: str) -> None:
    async with httpx.AsyncClient(base_url=central_system.api_url) as client:
        html = (await client.get(page)).text
        assert "cdn." not in html and "googleapis" not in html
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        urls += re.findall(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html)
        assert urls and all(u.startswith("/") for u in urls), urls
        for url in urls:
            answer = await client.get(url)
            assert answer.status_code == 200 and len(answer.content) > 100, url
    if page == "/docs":
        assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(urls)
    else:
        assert "/docs/assets/redoc.standalone.js" in urls


async def test_health_reports_the_database(central_system_any_db: CentralSystem) -> None:
    cs = central_system_any_db
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        answer = await client.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "database": "ok",
        "database_engine": cs.db.engine,
        "stations_online": 0,
    }


@pytest.mark.postgres
async def test_health_is_503_while_the_database_is_unreachable(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.up()
    user = f"{parts.username}@" if parts.username else ""
    url = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    try:
        async with (
            running_central_system(make_settings(url)) as cs,
            httpx.AsyncClient(base_url=cs.api_url, timeout=60) as client,
        ):
            assert (await client.get("/api/v1/health")).status_code == 200
            await proxy.down()
            answer = await client.get("/api/v1/health")
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["status"] == "degraded" and body["database"].startswith("down: ")
            await proxy.up(forward=False)  # a server that takes connections but never answers
            answer = await client.get("/api/v1/health")
            assert answer.status_code == 503, answer.text
            assert answer.json()["database"] == "down: no answer within 2 s"
            await proxy.down()
            await proxy.up()  # the server is back: so is the health
            answer = await client.get("/api/v1/health")
            assert answer.status_code == 200 and answer.json()["database"] == "ok"
    finally:
        await proxy.down()
