"""The storage interface: a small async `Database` with one implementation per engine.

SQL is written once with `$1, $2 …` placeholders (PostgreSQL style; converted for SQLite) and
portable column types: epoch seconds as REAL/DOUBLE PRECISION, JSON as TEXT, booleans as INTEGER.

Writes are *group-committed*: every `write()` call is queued, a single writer drains the queue and
runs all waiting units in one database transaction, and each caller is released only after the
commit (fsync) — so an acknowledged OCPP message is durable, while 200 stations writing at once cost
far fewer commits than 200.

One bad unit never fails its neighbours: an engine reports which unit's statement failed
(`UnitFailed`), that unit's caller gets the error, and the batch runs again without it — k bad
units cost k extra runs of the batch, not one commit per unit. An error no unit is to blame for
(the commit itself, a connection lost twice) retries the units one by one. Whatever happens, every
caller of `write()` gets its rows or an exception: if the writer stops, queued callers are failed.

Text containing U+0000 is refused here, for both engines (`UnstorableText`), before it reaches a
batch: see `refuse_nul`.

Batches are capped (`max_batch`, 256 units): with one cap-less batch, all stations fall into step —
the event loop idles while the one commit runs, then the database idles while the loop handles
the next wave. A cap lets the loop parse and validate the next group while the previous group
commits. The cap was 32 (measured on 2 cores with 200 stations: 3,200 msg/s uncapped, 4,000–5,700
capped at 32); under that load 84 % of batches hit 32, i.e. the commit (an fsync) was paid more
often than the load needed. 256 keeps the overlap and pays fewer fsyncs under load (see
docs/performance.md for the figures).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stmt:
    """One SQL statement of a write unit; `many=True` runs it once per args tuple in `args`."""

    sql: str
    args: Sequence[Any] = ()
    many: bool = False


@dataclass(slots=True)
class _Unit:
    stmts: tuple[Stmt, ...]
    future: asyncio.Future[list[list[Row]]] = field(repr=False)


class DatabaseError(RuntimeError):
    """The database could not be opened or a statement failed."""


class UnstorableText(DatabaseError, ValueError):
    """A text argument contains U+0000 (NUL), which the storage refuses on every engine."""


class UnitFailed(Exception):
    """Raised by an engine's `_run_batch`: a statement of unit `index` failed with `error`.

    The engine has rolled the batch back; nothing of it was committed.
    """

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


NUL = "\x00"


def refuse_nul(args: Sequence[Any], many: bool = False) -> None:
    """Raise `UnstorableText` if a text argument contains U+0000.

    The one place the storage decides about NUL, for both engines: PostgreSQL cannot store it in
    TEXT at all (CharacterNotInRepertoireError), SQLite stores it but C string functions cut the
    text there. Refusing (rather than escaping) keeps what is stored equal to what was sent, and the
    edges refuse such input before anything is acknowledged (OCPP: PropertyConstraintViolation,
    API: 422), so nothing accepted is lost. This check is the backstop behind them: a write with
    NUL fails alone, before it joins a batch, on both engines alike.
    """
    rows: Sequence[Any] = args if many else (args,)
    for row in rows:
        for value in row:
            if isinstance(value, str) and NUL in value:
                raise UnstorableText("text containing U+0000 (NUL) cannot be stored")


class Database(ABC):
    """Async access to one database; the same methods on every engine."""

    engine: str = ""

    def __init__(self, max_batch: int = 256) -> None:
        self._queue: asyncio.Queue[_Unit | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._max_batch = max_batch
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, apply pending migrations, start the group-commit writer."""
        await self._connect()
        await self._migrate()
        self._queue = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop(), name=f"{self.engine}-writer")

    async def close(self) -> None:
        """Finish every queued write, then disconnect."""
        if self._writer is not None and self._queue is not None:
            self._closing = True
            if not self._writer.done():
                await self._queue.put(None)
            # wait() does not raise: a writer that was cancelled has failed its callers already.
            await asyncio.wait([self._writer])
            self._writer = None
        await self._disconnect()

    # -- public API --------------------------------------------------------------------------
    async def write(self, *stmts: Stmt) -> list[list[Row]]:
        """Run the statements atomically; return each statement's rows once durably committed."""
        if self._queue is None or self._closing or self._writer is None or self._writer.done():
            raise DatabaseError("database is not open for writing")
        for stmt in stmts:
            refuse_nul(stmt.args, stmt.many)
        future: asyncio.Future[list[list[Row]]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Unit(stmts, future))
        return await future

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """All rows of a query (`UnstorableText` for an argument with U+0000, as in `write`)."""
        refuse_nul(args)
        return await self._fetch(sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))

    # -- engine hooks -----------------------------------------------------------------------
    @abstractmethod
    async def _connect(self) -> None: ...

    @abstractmethod
    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Row]: ...

    @abstractmethod
    async def _disconnect(self) -> None: ...

    @abstractmethod
    async def _applied_migrations(self) -> set[str]: ...

    @abstractmethod
    async def _apply_migration(self, name: str, sql: str) -> None: ...

    @abstractmethod
    async def _run_batch(self, units: Sequence[tuple[Stmt, ...]]) -> list[list[list[Row]]]:
        """Run the units in one transaction and commit; return rows per unit per statement.

        A statement error inside unit i rolls the transaction back and raises `UnitFailed(i, …)`;
        any other error (connecting, committing) is raised as it is.
        """

    # -- internals --------------------------------------------------------------------------
    async def pending_migrations(self) -> list[str]:
        """The migrations this code has that the open database has not applied (a readiness
        probe: another node may hold an older schema). Read through the query path, so it never
        competes with the writer's connection."""
        rows = await self.fetch("SELECT name FROM schema_migrations")
        applied = {row["name"] for row in rows}
        return [name for name in self._migration_names() if name not in applied]

    def _migration_names(self) -> list[str]:
        folder = resources.files("csms.storage") / "migrations" / self.engine
        return sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))

    async def _migrate(self) -> None:
        folder = resources.files("csms.storage") / "migrations" / self.engine
        applied = await self._applied_migrations()
        for name in (n for n in self._migration_names() if n not in applied):
            log.info("applying migration %s/%s", self.engine, name)
            await self._apply_migration(name, (folder / name).read_text())

    async def _write_loop(self) -> None:
        assert self._queue is not None
        units: list[_Unit] = []
        try:
            stop = False
            while not stop:
                first = await self._queue.get()
                if first is None:
                    break
                units = [first]
                while len(units) < self._max_batch and not self._queue.empty():
                    nxt = self._queue.get_nowait()
                    if nxt is None:
                        stop = True
                        break
                    units.append(nxt)
                try:
                    await self._commit(units)
                except Exception as exc:
                    # A fault of the writer itself: its batch fails, the writer goes on.
                    log.exception("database writer: a batch failed unexpectedly")
                    _fail(units, DatabaseError(f"write failed: {exc}"))
                units = []
        finally:
            # However the writer ends (closed, cancelled), nobody is left waiting for an answer.
            stopped = DatabaseError("database writer stopped")
            _fail(units, stopped)
            while not self._queue.empty():
                unit = self._queue.get_nowait()
                if unit is not None:
                    _fail([unit], stopped)

    async def _commit(self, units: list[_Unit]) -> None:
        while units:
            try:
                results = await self._run_batch([u.stmts for u in units])
            except UnitFailed as failed:
                # That unit is wrong (a constraint, a value the column refuses); the batch was
                # rolled back. Its caller gets the error, the others run again without it.
                _fail([units[failed.index]], failed.error)
                units = units[: failed.index] + units[failed.index + 1 :]
                continue
            except Exception as exc:
                if len(units) == 1:
                    _fail(units, exc)
                    return
                # No unit to blame (the commit failed, the connection was lost twice):
                # each alone, so whatever can commit does.
                for unit in units:
                    await self._commit([unit])
                return
            if len(results) != len(units):  # checked first: never hand a caller another's rows
                raise DatabaseError(f"{len(results)} results for a batch of {len(units)}")
            for unit, rows in zip(units, results, strict=True):
                if not unit.future.done():
                    unit.future.set_result(rows)
            return


def _fail(units: Sequence[_Unit], error: BaseException) -> None:
    for unit in units:
        if not unit.future.done():
            unit.future.set_exception(error)


def open_database(url: str) -> Database:
    """A `Database` for `sqlite:///path` or `postgresql://…` (not yet opened)."""
    if url.startswith("sqlite:"):
        from csms.storage.sqlite import SqliteDatabase

        return SqliteDatabase(url)
    if url.startswith(("postgresql:", "postgres:")):
        from csms.storage.postgres import PostgresDatabase

        return PostgresDatabase(url)
    raise DatabaseError(f"unsupported database URL {url!r} (use sqlite:///… or postgresql://…)")
