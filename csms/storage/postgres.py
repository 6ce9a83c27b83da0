"""PostgreSQL engine through asyncpg: a pool for reads, one dedicated connection for writes."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from csms.storage.database import Database, DatabaseError, Row, Stmt, UnitFailed

log = logging.getLogger(__name__)

# Errors that mean "this connection is unusable", not "this statement is wrong" — by class, so a
# variant asyncpg raises depending on timing (ConnectionDoesNotExistError when the socket closes in
# the middle of a query, AdminShutdownError when the server's goodbye was read first, "connection
# is closed" when it was read before the query) is never missed:
# - OSError: the socket itself (ConnectionResetError, TimeoutError, …);
# - InterfaceError: asyncpg's client-side "connection is closed" and its kin, except DataError
#   (bad query input, the statement's fault; see `_is_connection_loss`);
# - InternalClientError: the protocol state broke (ProtocolError, …);
# - PostgresConnectionError: SQLSTATE class 08, e.g. ConnectionDoesNotExistError, ConnectionFailure;
# - OperatorInterventionError: class 57, the server ended the session (admin shutdown, crash,
#   cannot connect now, database dropped, idle timeout) — except QueryCanceledError (a statement
#   timeout or cancel request ends the statement, not the session).
_CONNECTION_LOST = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


_STATEMENT_FAULTS = (asyncpg.exceptions._base.DataError, asyncpg.exceptions.QueryCanceledError)


def _is_connection_loss(exc: BaseException) -> bool:
    return isinstance(exc, _CONNECTION_LOST) and not isinstance(exc, _STATEMENT_FAULTS)


# SQLSTATE class 40 (deadlock detected, serialization failure): the server rolled the whole
# transaction back because of another transaction, not because of any statement in it. Seen with
# several nodes on one database (docs/cluster.md): a starting node's "every station offline" and
# another node's sweep or batch lock the same station rows in another order. Nothing was
# committed, so the batch runs again as it was; blaming a unit would fail a good write.
_ROLLED_BACK = asyncpg.exceptions.TransactionRollbackError
ROLLBACK_RETRIES = 5


def _is_rolled_back(exc: BaseException) -> bool:
    return isinstance(exc, _ROLLED_BACK)


class PostgresDatabase(Database):
    """PostgreSQL; `?schema=NAME` in the URL selects (and creates) a schema."""

    engine = "postgres"

    def __init__(self, url: str) -> None:
        super().__init__()
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.schema = query.pop("schema", [None])[0]
        self.dsn = urlunsplit(parts._replace(query=""))
        self._pool: asyncpg.Pool | None = None
        self._writer_conn: asyncpg.Connection | None = None

    async def _connect(self) -> None:
        settings = {"search_path": self.schema} if self.schema else None
        try:
            if self.schema:
                conn = await asyncpg.connect(self.dsn)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                except asyncpg.UniqueViolationError:
                    pass  # another node created it at the same moment
                finally:
                    await conn.close()
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=5, server_settings=settings
            )
            self._writer_conn = await asyncpg.connect(self.dsn, server_settings=settings)
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseError(
                f"setting database_url: cannot connect to PostgreSQL: {exc}"
            ) from None

    async def _disconnect(self) -> None:
        if self._writer_conn is not None:
            await self._writer_conn.close()
            self._writer_conn = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _migrate(self) -> None:
        """Apply pending migrations under a session advisory lock: several nodes of a cluster
        starting together apply each migration once (the others wait, then find it applied)."""
        assert self._writer_conn is not None
        key = f"csms-migrations:{self.schema or 'public'}"
        await self._writer_conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
        try:
            await super()._migrate()
        finally:
            await self._writer_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _applied_migrations(self) -> set[str]:
        assert self._writer_conn is not None
        await self._writer_conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, "
            "at TIMESTAMPTZ DEFAULT now())"
        )
        rows = await self._writer_conn.fetch("SELECT name FROM schema_migrations")
        return {r["name"] for r in rows}

    async def _apply_migration(self, name: str, sql: str) -> None:
        assert self._writer_conn is not None
        async with self._writer_conn.transaction():
            await self._writer_conn.execute(sql)
            await self._writer_conn.execute(
                "INSERT INTO schema_migrations (name) VALUES ($1)", name
            )

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        assert self._pool is not None
        rows = await self._pool.fetch(sql, *args)
        return [dict(r) for r in rows]

    async def _write_connection(self) -> asyncpg.Connection:
        """The write connection, opened again if the server dropped it (restart, failover)."""
        if self._writer_conn is None or self._writer_conn.is_closed():
            settings = {"search_path": self.schema} if self.schema else None
            self._writer_conn = await asyncpg.connect(self.dsn, server_settings=settings)
        return self._writer_conn

    async def _run_batch(self, units: Sequence[tuple[Stmt, ...]]) -> list[list[list[Row]]]:
        for attempt in range(ROLLBACK_RETRIES):
            try:
                return await self._run_batch_reconnecting(units)
            except _ROLLED_BACK as exc:
                if attempt == ROLLBACK_RETRIES - 1:
                    raise
                # Another transaction won the lock; it is done or nearly so. A short, growing,
                # jittered pause keeps two nodes from meeting again in the same order.
                log.info("write batch rolled back by the server (%s); running it again", exc)
                await asyncio.sleep((0.01 + random.random() * 0.04) * (attempt + 1))
        raise AssertionError("unreachable")

    async def _run_batch_reconnecting(
        self, units: Sequence[tuple[Stmt, ...]]
    ) -> list[list[list[Row]]]:
        try:
            return await self._run_batch_once(await self._write_connection(), units)
        except Exception as exc:
            if not _is_connection_loss(exc):
                raise
            # The connection died under us (server restart, failover, admin kill); its open
            # transaction is gone with it. Drop it and try once more on a fresh one.
            if self._writer_conn is not None:
                self._writer_conn.terminate()
            return await self._run_batch_once(await self._write_connection(), units)

    @staticmethod
    async def _run_batch_once(
        conn: asyncpg.Connection, units: Sequence[tuple[Stmt, ...]]
    ) -> list[list[list[Row]]]:
        try:
            return await _run_units(conn, units, merge=True)
        except _MergedFailed:
            # A statement of a merged run failed (the transaction was rolled back): run the
            # batch again unit by unit, which names the unit to blame.
            return await _run_units(conn, units, merge=False)


class _MergedFailed(Exception):
    """A merged `executemany` failed; which unit's rows caused it is not known."""


def _mergeable(stmts: tuple[Stmt, ...]) -> str | None:
    """The SQL of a unit that is one `many` statement returning nothing (a batch insert)."""
    if len(stmts) == 1 and stmts[0].many:
        return stmts[0].sql
    return None


async def _run_units(
    conn: asyncpg.Connection, units: Sequence[tuple[Stmt, ...]], merge: bool
) -> list[list[list[Row]]]:
    """The units in one transaction. With `merge`, consecutive units that are one batch insert
    of the same SQL (every station's MeterValues) run as one `executemany`: one prepared
    statement and one pipelined round trip instead of one per unit."""
    out: list[list[list[Row]]] = []
    async with conn.transaction():
        index = 0
        while index < len(units):
            sql = _mergeable(units[index]) if merge else None
            end = index + 1
            while sql is not None and end < len(units) and _mergeable(units[end]) == sql:
                end += 1
            if end - index > 1:
                assert sql is not None
                rows = [args for unit in units[index:end] for args in unit[0].args]
                try:
                    await conn.executemany(sql, rows)
                except Exception as exc:
                    if _is_connection_loss(exc) or _is_rolled_back(exc):
                        raise
                    raise _MergedFailed from exc
                out.extend([[]] for _ in range(end - index))
                index = end
                continue
            try:
                out.append(await _run_unit(conn, units[index]))
            except Exception as exc:
                if _is_connection_loss(exc) or _is_rolled_back(exc):
                    raise
                # This unit's statement or arguments are wrong: its fault alone.
                raise UnitFailed(index, exc) from exc
            index += 1
    return out


async def _run_unit(conn: asyncpg.Connection, stmts: tuple[Stmt, ...]) -> list[list[Row]]:
    unit_rows: list[list[Row]] = []
    for stmt in stmts:
        if stmt.many:
            await conn.executemany(stmt.sql, stmt.args)
            unit_rows.append([])
        else:
            rows = await conn.fetch(stmt.sql, *stmt.args)
            unit_rows.append([dict(r) for r in rows])
    return unit_rows
