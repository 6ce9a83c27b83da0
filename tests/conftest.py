"""Shared fixtures: databases on both engines, a running central system.

PostgreSQL tests use `CSMS_TEST_POSTGRES_URL` (default postgresql://postgres@127.0.0.1:5432/test),
each test in a fresh schema that is dropped afterwards. Without a server they are skipped — except
when `CI=true`, where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from csms.app import CentralSystem, running_central_system
from csms.settings import Settings
from csms.storage import Database, Store, open_database

POSTGRES_URL = os.environ.get("CSMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Fixture modules contributed by each area.
pytest_plugins = [
    name
    for name in ("tests.fixtures_sim", "tests.fixtures_meter")
    if (Path(__file__).parent / f"{name.split('.')[-1]}.py").exists()
]


async def _postgres_reachable() -> bool:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 5)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def require_postgres() -> None:
    """Skip (or, under CI, fail) when PostgreSQL is not reachable."""
    if not asyncio.run(_postgres_reachable()):
        message = f"PostgreSQL not reachable at {POSTGRES_URL}"
        if IN_CI:
            pytest.fail(message + " (required when CI=true)")
        pytest.skip(message)


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> str:
    """A PostgreSQL URL selecting a fresh schema (dropped after the test)."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    asyncio.run(_drop_schema(schema))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite (a temp file) and on PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/csms.sqlite3"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def store(db: Database) -> Store:
    return Store.on(db)


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for an in-process central system on ephemeral ports."""
    values: dict[str, object] = {
        "database_url": database_url,
        "ocpp_host": "127.0.0.1",
        "ocpp_port": 0,
        "api_port": 0,
        "unknown_stations": "accept",
        "response_timeout_s": 10,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
async def central_system(tmp_path: Path) -> AsyncIterator[CentralSystem]:
    """A central system on SQLite in a temp dir, unknown stations accepted."""
    async with running_central_system(make_settings(f"sqlite:///{tmp_path}/csms.sqlite3")) as cs:
        yield cs


@pytest.fixture
async def central_system_any_db(database_url: str) -> AsyncIterator[CentralSystem]:
    """The same, once on SQLite and once on PostgreSQL."""
    async with running_central_system(make_settings(database_url)) as cs:
        yield cs
