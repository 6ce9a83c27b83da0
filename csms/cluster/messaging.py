"""Messages between nodes over PostgreSQL LISTEN/NOTIFY.

Each node LISTENs, on one dedicated connection, to its own channel (CALLs for its stations and
answers to its forwarded CALLs) and to the cluster's channel (events, presence changes).
Channel names are derived from the schema and node id (`channel_name`, pure): NOTIFY channels
are database-wide, so clusters on different schemas of one database never hear each other.

Sending is `SELECT pg_notify(…)` on the read pool (delivered at once, outside the group-commit
writer). A message over `NOTIFY_LIMIT_BYTES` is stored in `cluster_messages` and its row id is
notified instead; receivers read it from there (old rows are pruned by the sweep).

NOTIFY is not durable: a node that is not listening at that moment misses the message. Callers
live with that: a forwarded CALL times out, presence and live nodes are reloaded periodically and
after the listener reconnects (`on_connect`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from csms.cluster import envelope
from csms.storage.database import Stmt
from csms.storage.postgres import PostgresDatabase

log = logging.getLogger(__name__)

CLUSTER = "*"
"""The channel every node listens to (events, presence), in place of a node id."""


def channel_name(schema: str | None, node_id: str) -> str:
    """The NOTIFY channel of a node (or of the whole cluster: `CLUSTER`): a short identifier,
    distinct per schema and node."""
    digest = hashlib.sha1(f"{schema or 'public'}\x00{node_id}".encode()).hexdigest()[:20]
    return f"csms_{digest}"


Handler = Callable[[envelope.Message], None]


class Messenger:
    """Sends messages to a node or to all, and hands received ones to `handler`."""

    def __init__(
        self,
        db: PostgresDatabase,
        node_id: str,
        handler: Handler,
        on_connect: Callable[[], Awaitable[None]],
        reconnect_s: float = 1.0,
    ) -> None:
        self.db = db
        self.node_id = node_id
        self._handler = handler
        self._on_connect = on_connect
        self._reconnect_s = reconnect_s
        self._own = channel_name(db.schema, node_id)
        self._cluster = channel_name(db.schema, CLUSTER)
        self.listening = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, node_id: str, message: envelope.Message) -> None:
        """To one node (`CLUSTER`: to every node, this one included)."""
        text = envelope.encode(message)
        if not envelope.fits_notify(text):
            rows = await self.db.write(
                Stmt("INSERT INTO cluster_messages (payload) VALUES ($1) RETURNING id", (text,))
            )
            text = envelope.encode(envelope.Ref(int(rows[0][0]["id"])))
        await self.db.fetch("SELECT pg_notify($1, $2)", channel_name(self.db.schema, node_id), text)

    async def run(self) -> None:
        """Listen until cancelled; a lost connection is opened again."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused or lost: try again
                log.warning("cluster: listener connection lost: %r", exc)
            self.listening.clear()
            await asyncio.sleep(self._reconnect_s)

    async def _listen_once(self) -> None:
        settings = {"search_path": self.db.schema} if self.db.schema else None
        conn = await asyncpg.connect(self.db.dsn, server_settings=settings)
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_lost(_conn: Any) -> None:
            if not lost.done():
                lost.set_result(None)

        try:
            conn.add_termination_listener(on_lost)
            await conn.add_listener(self._own, self._received)
            await conn.add_listener(self._cluster, self._received)
            self.listening.set()
            await self._on_connect()
            # A dead server may not close the socket: check the connection now and then.
            while not lost.done():
                await asyncio.wait([lost], timeout=5)
                if not lost.done():
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), 5)
        finally:
            self.listening.clear()
            conn.terminate()

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = envelope.decode(payload)
        except envelope.EnvelopeError as exc:
            log.warning("cluster: ignored a message: %s", exc)
            return
        if isinstance(message, envelope.Ref):
            task = asyncio.create_task(self._fetch_ref(message.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._handler(message)

    async def _fetch_ref(self, row_id: int) -> None:
        try:
            sql = "SELECT payload FROM cluster_messages WHERE id = $1"
            text = await self.db.fetchval(sql, row_id)
            if text is None:
                log.warning("cluster: stored message %d is gone", row_id)
                return
            self._handler(envelope.decode(str(text)))
        except Exception as exc:
            log.warning("cluster: stored message %d not read: %r", row_id, exc)
