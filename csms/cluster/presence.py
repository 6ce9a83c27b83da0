"""Station presence: which node holds each station's socket, in `cluster_presence`.

`PresenceRecorder` follows this node's own connect/disconnect events (the local bus only ever
carries this node's events): a connect upserts the station's row (this node, a new connection
id, a new version from a sequence) and marks the station online; a disconnect deletes the row
only if it is still this connection's — a station that already reconnected to another node
keeps that node's row — and marks the station offline unless a row remains. Each change is
NOTIFYed so every node's `PresenceCache` follows without a query per call.

`PresenceCache` is the pure part: per station the holding node and the row version; a change
with an older version than the one known is stale (notifications of different nodes may cross)
and ignored. A full reload (after each lease renewal, and after the listener reconnects)
corrects anything missed.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from csms import events
from csms.storage.database import Database, Stmt

log = logging.getLogger(__name__)

UPSERT_SQL = (
    "INSERT INTO cluster_presence (station_id, node_id, connection_id, since, version) "
    "VALUES ($1, $2, $3, $4, nextval('cluster_presence_version')) "
    "ON CONFLICT (station_id) DO UPDATE SET node_id = EXCLUDED.node_id, "
    "connection_id = EXCLUDED.connection_id, since = EXCLUDED.since, version = EXCLUDED.version "
    "RETURNING version"
)
MARK_ONLINE_SQL = "UPDATE stations SET online = 1 WHERE id = $1 AND online = 0"
DELETE_SQL = (
    "DELETE FROM cluster_presence WHERE station_id = $1 AND node_id = $2 AND connection_id = $3 "
    "RETURNING version"
)
MARK_OFFLINE_SQL = (
    "UPDATE stations SET online = 0 WHERE id = $1 AND online <> 0 "
    "AND NOT EXISTS (SELECT 1 FROM cluster_presence p WHERE p.station_id = $1)"
)
LOAD_SQL = (
    "SELECT p.station_id, p.node_id, p.since, p.version FROM cluster_presence p "
    "JOIN cluster_nodes n ON n.node_id = p.node_id WHERE n.lease_until >= now()"
)


@dataclass(frozen=True, slots=True)
class Held:
    node_id: str
    since: float
    version: int


class PresenceCache:
    """Which node holds which station, as far as this node has heard."""

    def __init__(self) -> None:
        self._held: dict[str, Held] = {}
        # Versions of rows known deleted, so a late "held" of an older version is ignored.
        self._gone: dict[str, int] = {}

    def owner(self, station_id: str) -> str | None:
        held = self._held.get(station_id)
        return None if held is None else held.node_id

    def since(self, station_id: str) -> float | None:
        held = self._held.get(station_id)
        return None if held is None else held.since

    def items(self) -> list[tuple[str, str]]:
        return [(sid, held.node_id) for sid, held in self._held.items()]

    def held_by(self, station_id: str, node_id: str, since: float, version: int) -> bool:
        """Apply "held by `node_id`"; False (ignored) when an equal or newer change is known."""
        current = self._held.get(station_id)
        if (current is not None and current.version >= version) or self._gone.get(
            station_id, -1
        ) >= version:
            return False
        self._held[station_id] = Held(node_id, since, version)
        self._gone.pop(station_id, None)
        return True

    def released(self, station_id: str, version: int) -> bool:
        """Apply "row `version` deleted"; ignored when the station is held by a newer row."""
        current = self._held.get(station_id)
        if current is not None and current.version > version:
            return False
        self._held.pop(station_id, None)
        self._gone[station_id] = max(version, self._gone.get(station_id, -1))
        return True

    def replace(self, rows: dict[str, Held], as_of: int) -> None:
        """The database's view as a whole (a reload), read after the version sequence stood at
        `as_of`: a change this cache heard of that is newer than what was read wins."""
        held: dict[str, Held] = {}
        for sid, row in rows.items():
            current = self._held.get(sid)
            if current is not None and current.version > row.version:
                held[sid] = current
            elif self._gone.get(sid, -1) < row.version:
                held[sid] = row
        for sid, current in self._held.items():
            if sid not in rows and current.version > as_of:
                held[sid] = current  # held since the reload began
        self._held = held
        self._gone = {sid: v for sid, v in self._gone.items() if v > as_of}


Notify = Callable[[str, str | None, float, int], Awaitable[None]]
"""notify(station_id, node_id or None when released, since, version)"""


class PresenceRecorder:
    """Writes this node's presence rows from its own connect/disconnect events."""

    def __init__(
        self, db: Database, bus: events.EventBus, node_id: str, incarnation: str, notify: Notify
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.incarnation = incarnation
        self._notify = notify
        self._queue = bus.subscribe(  # now: no connect is missed
            events.StationConnected, events.StationDisconnected
        )
        self._bus = bus
        self._connections: dict[str, tuple[str, float]] = {}
        self._seq = itertools.count(1)
        # Writes that failed (the database was away), tried again by `retry()`.
        self._unsaved: set[str] = set()
        self._unreleased: dict[str, str] = {}

    async def run(self) -> None:
        try:
            while True:
                event = await self._queue.get()
                if isinstance(event, events.StationConnected):
                    await self._connected(event.station_id, event.at)
                elif isinstance(event, events.StationDisconnected):
                    await self._disconnected(event.station_id)
        finally:
            self._bus.unsubscribe(self._queue)

    async def _connected(self, station_id: str, at: float) -> None:
        connection_id = f"{self.node_id}/{self.incarnation}/{next(self._seq)}"
        self._connections[station_id] = (connection_id, at)
        self._unreleased.pop(station_id, None)  # this connection's row replaces that one
        try:
            await self._hold(station_id, connection_id, at)
        except Exception as exc:  # the database is away: `retry()` writes it later
            log.error("cluster: presence of %s not stored: %r", station_id, exc)
            self._unsaved.add(station_id)

    async def _hold(self, station_id: str, connection_id: str, at: float) -> None:
        rows = await self.db.write(
            Stmt(UPSERT_SQL, (station_id, self.node_id, connection_id, at)),
            Stmt(MARK_ONLINE_SQL, (station_id,)),
        )
        await self._notify(station_id, self.node_id, at, int(rows[0][0]["version"]))

    async def _disconnected(self, station_id: str) -> None:
        connection = self._connections.pop(station_id, None)
        self._unsaved.discard(station_id)
        if connection is None:
            return
        try:
            await self._release(station_id, connection[0])
        except Exception as exc:  # the database is away: `retry()` deletes it later
            log.error("cluster: presence of %s not released: %r", station_id, exc)
            self._unreleased[station_id] = connection[0]

    async def _release(self, station_id: str, connection_id: str) -> None:
        rows = await self.db.write(
            Stmt(DELETE_SQL, (station_id, self.node_id, connection_id)),
            Stmt(MARK_OFFLINE_SQL, (station_id,)),
        )
        if rows[0]:
            await self._notify(station_id, None, 0.0, int(rows[0][0]["version"]))

    async def retry(self) -> None:
        """Write what failed before (errors propagate: the next period tries again)."""
        for station_id, connection_id in list(self._unreleased.items()):
            await self._release(station_id, connection_id)
            self._unreleased.pop(station_id, None)
        for station_id in list(self._unsaved):
            connection = self._connections.get(station_id)
            if connection is not None:
                await self._hold(station_id, *connection)
            self._unsaved.discard(station_id)

    async def announce_all(self) -> None:
        """Write every held station's row again (this node's rows were swept while it could
        not renew its lease, but it kept the sockets)."""
        for station_id, (connection_id, at) in list(self._connections.items()):
            await self._hold(station_id, connection_id, at)


async def load(db: Database) -> tuple[dict[str, Held], int]:
    """Every presence row of a live node, and the version sequence's value before they were
    read (for `PresenceCache.replace`)."""
    as_of = await db.fetchval("SELECT last_value FROM cluster_presence_version")
    rows = await db.fetch(LOAD_SQL)
    held = {r["station_id"]: Held(r["node_id"], float(r["since"]), int(r["version"])) for r in rows}
    return held, int(as_of)
