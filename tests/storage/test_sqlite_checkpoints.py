"""SQLite's WAL checkpoints run off the writer: its own checkpoint is off, a separate connection
copies committed pages into the database file, and every acknowledged write stays readable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from csms.storage import Stmt
from csms.storage.sqlite import SqliteDatabase
from tests.support.waiting import eventually


async def test_the_checkpointer_backfills_the_wal_and_the_writer_does_not(tmp_path: Path) -> None:
    path = tmp_path / "csms.sqlite3"
    db = SqliteDatabase(f"sqlite:///{path}")
    await db.open()
    try:
        assert db._conn is not None
        assert db._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        await db.write(Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for i in range(20):
            await db.write(Stmt("INSERT INTO t (id, v) VALUES ($1, $2)", (i, "x" * 5000)))
        start = db.checkpoints
        await eventually(lambda: db.checkpoints >= start + 2)
        # Everything committed before the last checkpoint is in the database file: a PASSIVE
        # checkpoint now has no frame left to copy (log frames == checkpointed frames).
        with sqlite3.connect(path) as probe:
            busy, log, done = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and log == done
        assert await db.fetchval("SELECT count(*) FROM t") == 20
    finally:
        await db.close()
    with sqlite3.connect(path) as after:  # closed cleanly: all rows there, WAL folded in
        assert after.execute("SELECT count(*) FROM t").fetchone()[0] == 20


async def test_a_memory_database_has_no_checkpointer() -> None:
    db = SqliteDatabase("sqlite:///:memory:")
    await db.open()
    try:
        await db.write(Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        assert db._checkpointer is None
    finally:
        await db.close()
