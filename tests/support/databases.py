"""Database URLs and settings for tests: PostgreSQL when reachable (required under CI=true).

PostgreSQL tests use `CSMS_TEST_POSTGRES_URL` (default postgresql://postgres@127.0.0.1:5432/test),
each test in a fresh schema that is dropped afterwards. Without a server they are skipped — except
when `CI=true`, where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from csms.settings import Settings

POSTGRES_URL = os.environ.get("CSMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _postgres_reachable() -> bool:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 5)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


_reachable: bool | None = None
"""Whether this test process reached PostgreSQL once (it is asked once per process, not once
per test)."""


def require_postgres() -> None:
    """Skip (or, under CI, fail) when PostgreSQL is not reachable."""
    global _reachable
    if not _reachable:
        _reachable = asyncio.run(_postgres_reachable())
    if not _reachable:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}"
        if IN_CI:
            pytest.fail(message + " (required when CI=true)")
        pytest.skip(message)


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
