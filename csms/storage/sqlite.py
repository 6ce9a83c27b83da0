"""SQLite engine: a writer connection on one thread (WAL journal, fsync on every commit) and a
reader connection on another.

Reads have their own connection and thread so they never queue behind a group commit's fsync: in
WAL mode a reader sees every transaction committed before its statement began, so a read after
`write()` returned sees that write. (Measured by benchmarks/reconnect_storm.py: with one thread for
both, every handshake's station lookup waited for the commits ahead of it.) `:memory:` databases
keep one connection: a second one would open a different, empty database.

WAL checkpoints run off the writer: the writer's automatic checkpoint (every 1,000 pages, inside
a commit) is off, and a third connection on its own thread runs a PASSIVE checkpoint every
half second — it copies committed pages into the database file without blocking the writer or the
readers. Should the WAL still grow past `WAL_LIMIT_BYTES` (readers pinning old pages), that
connection runs one RESTART checkpoint, which makes the writer wait once, briefly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from csms.storage.database import Database, DatabaseError, Row, Stmt, UnitFailed

_PLACEHOLDER = re.compile(r"\$(\d+)")
CHECKPOINT_EVERY_S = 0.5
WAL_LIMIT_BYTES = 16 * 1024 * 1024

# The standard library's sqlite3 binds a None argument only after looking for an adapter for it:
# none is registered, so it asks the protocol type for `__adapt__`, and that lookup formats an
# AttributeError message and drops it — ~2,200 instructions per None (measured when a MeterValues
# was five rows with 17 unset columns; now its row's unset transaction id or energy register,
# and every other write's NULLs). An adapter registered for NoneType is found at once; `{}.get`
# returns None for any key and is a C call. The stored value is the same NULL.
_NULL: dict[None, None] = {}
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", _NULL.get))


@functools.lru_cache(maxsize=1024)
def _sql(text: str) -> str:
    """`$n` placeholders as SQLite's `?n`; cached: the same few statements run thousands of
    times a second, and the regex cost ~10 µs each on the writer thread, holding the GIL."""
    return _PLACEHOLDER.sub(r"?\1", text)


def path_from_url(url: str) -> str:
    """`sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite:///:memory:`."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("///"):
        raise DatabaseError(f"setting database_url: expected sqlite:///path, got {url!r}")
    path = rest[3:]
    if not path:
        raise DatabaseError("setting database_url: sqlite URL has no file path")
    return path


class SqliteDatabase(Database):
    """SQLite through the standard library, all calls on one dedicated thread."""

    engine = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.path = path_from_url(url)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._read_executor: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self.checkpoints = 0  # PASSIVE checkpoints run (for tests and benchmarks)

    async def _call(self, fn: Any, *args: Any) -> Any:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsynced at every commit, so a commit survives power loss.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            if self.path != ":memory:":
                conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer does it
            return conn

        try:
            self._conn = await self._call(connect)
        except sqlite3.Error as exc:
            raise DatabaseError(f"setting database_url: cannot open {self.path}: {exc}") from None
        if self.path == ":memory:":
            return
        self._read_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")

        def connect_reader() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            return conn

        try:
            self._reader = await asyncio.get_running_loop().run_in_executor(
                self._read_executor, connect_reader
            )
        except sqlite3.Error as exc:
            raise DatabaseError(f"setting database_url: cannot open {self.path}: {exc}") from None
        self._checkpointer = asyncio.create_task(self._checkpoints(), name="sqlite-checkpoint")

    async def _checkpoints(self) -> None:
        """PASSIVE checkpoints every CHECKPOINT_EVERY_S on a connection and thread of their own."""
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        wal = f"{self.path}-wal"

        def checkpoint(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            with contextlib.suppress(OSError):
                if os.path.getsize(wal) > WAL_LIMIT_BYTES:
                    conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()

        conn = await loop.run_in_executor(
            executor, lambda: sqlite3.connect(self.path, isolation_level=None, timeout=5)
        )
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_EVERY_S)
                try:
                    await loop.run_in_executor(executor, checkpoint, conn)
                    self.checkpoints += 1
                except sqlite3.Error:
                    continue  # busy or locked now: the next round tries again
        finally:
            await asyncio.shield(loop.run_in_executor(executor, conn.close))
            executor.shutdown(wait=False)

    async def _disconnect(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        if self._reader is not None and self._read_executor is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._read_executor, self._reader.close
            )
            self._reader = None
        if self._read_executor is not None:
            self._read_executor.shutdown(wait=True)
            self._read_executor = None
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _applied_migrations(self) -> set[str]:
        def run() -> set[str]:
            assert self._conn is not None
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, at REAL)"
            )
            return {r[0] for r in self._conn.execute("SELECT name FROM schema_migrations")}

        return set(await self._call(run))

    async def _apply_migration(self, name: str, sql: str) -> None:
        def run() -> None:
            assert self._conn is not None
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split(sql):
                    self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO schema_migrations (name, at) VALUES (?, julianday('now'))",
                    (name,),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

        await self._call(run)

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        reader, executor = self._reader, self._read_executor
        if reader is None or executor is None:  # :memory:, or before the reader is open
            reader, executor = self._conn, self._executor

        def run() -> list[Row]:
            assert reader is not None
            return [dict(r) for r in reader.execute(_sql(sql), args)]

        return list(await asyncio.get_running_loop().run_in_executor(executor, run))

    async def _run_batch(self, units: Sequence[tuple[Stmt, ...]]) -> list[list[list[Row]]]:
        def run() -> list[list[list[Row]]]:
            conn = self._conn
            assert conn is not None
            out: list[list[list[Row]]] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for index, stmts in enumerate(units):
                    try:
                        out.append(_run_unit(conn, stmts))
                    except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
                        # This unit's statement or arguments are wrong: its fault alone.
                        raise UnitFailed(index, exc) from exc
                conn.execute("COMMIT")
            except BaseException:
                # Some errors (disk full, I/O) already ended the transaction in SQLite.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return out

        return list(await self._call(run))


def _run_unit(conn: sqlite3.Connection, stmts: tuple[Stmt, ...]) -> list[list[Row]]:
    unit_rows: list[list[Row]] = []
    for stmt in stmts:
        if stmt.many:
            # Exact tuples: sqlite3 reads a tuple subclass's (a NamedTuple row's) items through
            # `__getitem__` one Python call each; an exact tuple's directly (~50,000
            # instructions less per MeterValues when it was five 13-column rows).
            conn.executemany(_sql(stmt.sql), map(tuple, stmt.args))
            unit_rows.append([])
        else:
            cur = conn.execute(_sql(stmt.sql), tuple(stmt.args))
            unit_rows.append([dict(r) for r in cur.fetchall()])
    return unit_rows


def _split(script: str) -> list[str]:
    """Statements of a migration file (`;` at the end of a line ends a statement)."""
    statements, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current))
    return statements
