"""Shared fixtures: databases on both engines, a running central system.

Package-specific fixtures live in each test package's own conftest; helpers shared across
packages live in `tests/support/` (the simulator and meter fixtures are registered below).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from csms.app import CentralSystem, running_central_system
from csms.storage import Database, Store, open_database
from tests.support.databases import POSTGRES_URL, make_settings, require_postgres

pytest_plugins = ["tests.support.fixtures_sim", "tests.support.fixtures_meter"]


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
