"""A write batch the server rolls back because of another transaction (deadlock, serialization
failure) runs again as it was: none of its units is blamed, its callers get their rows."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest

from csms.storage import Stmt, open_database


def _raw_dsn(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    schema = parse_qs(parts.query)["schema"][0]
    return urlunsplit(parts._replace(query="")), schema


async def _waiting_on_a_lock(admin: asyncpg.Connection, pid: int) -> bool:
    row = await admin.fetchrow("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid)
    return row is not None and row["wait_event_type"] == "Lock"


async def test_a_batch_that_loses_a_deadlock_runs_again(postgres_url: str) -> None:
    dsn, schema = _raw_dsn(postgres_url)
    db = open_database(postgres_url)
    await db.open()
    other = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    admin = await asyncpg.connect(dsn)
    try:
        await db.write(Stmt("CREATE TABLE pair (id INTEGER PRIMARY KEY, v TEXT)"))
        await db.write(Stmt("INSERT INTO pair VALUES (1, 'old'), (2, 'old')"))
        # The other transaction waits long before it looks for deadlocks, so the server picks
        # our writer (which waits first, with the default 1 s) as the victim.
        await other.execute("SET deadlock_timeout = '30s'")
        tx = other.transaction()
        await tx.start()
        await other.execute("UPDATE pair SET v = 'other' WHERE id = 2")
        # Our unit locks row 1, then waits for row 2 (held by the other transaction) …
        write = asyncio.create_task(
            db.write(
                Stmt("UPDATE pair SET v = 'ours' WHERE id = 1 RETURNING id"),
                Stmt("UPDATE pair SET v = 'ours' WHERE id = 2 RETURNING id"),
            )
        )
        writer_pid = db._writer_conn.get_server_pid()  # type: ignore[attr-defined]
        async with asyncio.timeout(30):
            while not await _waiting_on_a_lock(admin, writer_pid):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        # … and the other one now wants row 1: a deadlock; ours is rolled back, the other goes on.
        await other.execute("UPDATE pair SET v = 'other' WHERE id = 1")
        await tx.commit()
        rows = await asyncio.wait_for(write, 30)
        assert rows == [[{"id": 1}], [{"id": 2}]]  # the whole unit ran again, nothing blamed
        values = await db.fetch("SELECT id, v FROM pair ORDER BY id")
        assert [(r["id"], r["v"]) for r in values] == [(1, "ours"), (2, "ours")]
    finally:
        await other.close()
        await admin.close()
        await db.close()


@pytest.mark.parametrize(
    ("error", "rolled_back"),
    [
        ("DeadlockDetectedError", True),
        ("SerializationError", True),
        ("UniqueViolationError", False),  # the unit's own fault: it fails alone
        ("QueryCanceledError", False),
    ],
)
def test_rollbacks_by_the_server_are_recognised_by_class(error: str, rolled_back: bool) -> None:
    from csms.storage.postgres import _is_rolled_back

    assert _is_rolled_back(getattr(asyncpg.exceptions, error)("message")) is rolled_back
