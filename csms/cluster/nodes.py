"""Node identity and the node's liveness lease in the database.

A node is one `csms serve` process. Its id is the `node_id` setting when set (the operator
promises one process per id, e.g. a StatefulSet pod name), else the host name plus a random
suffix, so two processes on one host (or a restarted container with the same host name) never
share an id.

The lease is a row of `cluster_nodes` whose `lease_until` is set from the DATABASE's clock
(`now() + node_lease_s`), renewed every third of the lease: no two nodes' clocks are compared.
A node whose lease lapsed is dead: any live node's sweep (`cluster_sweep()`, run after each
renewal) deletes its row and presence rows and marks its stations offline (idempotent, one
transaction). A node whose own row was swept (it could not renew in time) inserts it again and
announces its stations' presence again (`on_reclaimed`).

`/readyz` asks `held()`: the lease is held while the last successful renewal is younger than the
lease minus a renewal period (by this process's monotonic clock, which only measures its own
intervals).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from csms.cluster import metrics
from csms.storage.database import Database, DatabaseError, Stmt

log = logging.getLogger(__name__)

CLAIM_SQL = (
    "INSERT INTO cluster_nodes (node_id, incarnation, lease_until) "
    "VALUES ($1, $2, now() + make_interval(secs => $3)) "
    "ON CONFLICT (node_id) DO UPDATE SET incarnation = EXCLUDED.incarnation, "
    "lease_until = EXCLUDED.lease_until, started_at = now() "
    "WHERE cluster_nodes.lease_until < now() OR cluster_nodes.incarnation = EXCLUDED.incarnation "
    "RETURNING node_id"
)
RENEW_SQL = (
    "UPDATE cluster_nodes SET lease_until = now() + make_interval(secs => $3) "
    "WHERE node_id = $1 AND incarnation = $2 RETURNING node_id"
)
LIVE_SQL = "SELECT node_id FROM cluster_nodes WHERE lease_until >= now() ORDER BY node_id"


def make_node_id(setting: str | None, hostname: str, suffix: str) -> str:
    """The node's id: the setting as given, else `hostname-suffix` (at most 64 characters)."""
    if setting:
        return setting
    host = (hostname or "csms")[: 64 - len(suffix) - 1]
    return f"{host}-{suffix}"


def random_suffix() -> str:
    return secrets.token_hex(3)


def renew_every(lease_s: float) -> float:
    """How often a node renews its lease: three chances before it lapses."""
    return lease_s / 3


def lease_held(renewed_at: float | None, now: float, lease_s: float) -> bool:
    """Whether this node still holds its lease, judged from when it last renewed it (same
    monotonic clock): held until one renewal period before the database would call it lapsed."""
    return renewed_at is not None and now - renewed_at < lease_s - renew_every(lease_s)


class NodeIdTaken(DatabaseError):
    """Another live process holds this node id (the `node_id` setting must be unique); a
    `DatabaseError`, so `csms serve` stops with the message instead of a traceback."""


class NodeLease:
    """Claims and renews this node's lease, sweeps dead nodes, knows the live nodes."""

    def __init__(
        self,
        db: Database,
        node_id: str,
        lease_s: float,
        on_swept: Callable[[list[tuple[str, int, str]]], Awaitable[None]],
        on_reclaimed: Callable[[], Awaitable[None]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.lease_s = lease_s
        self.incarnation = secrets.token_hex(8)
        self.live: frozenset[str] = frozenset()
        self._on_swept = on_swept
        self._on_reclaimed = on_reclaimed
        self._monotonic = monotonic
        self._renewed_at: float | None = None

    def held(self) -> bool:
        return lease_held(self._renewed_at, self._monotonic(), self.lease_s)

    def readiness(self) -> list[str]:
        """For /readyz: why this node is not ready as a cluster member (empty when it is)."""
        return [] if self.held() else [f"cluster: node lease of {self.node_id} not held"]

    async def claim(self, wait_s: float | None = None) -> None:
        """Insert this node's row; with a fixed id still leased by an earlier process, wait for
        that lease to lapse (a restart), then `NodeIdTaken` (another live process)."""
        deadline = self._monotonic() + (2 * self.lease_s if wait_s is None else wait_s)
        while not await self._claim_once():
            if self._monotonic() > deadline:
                raise NodeIdTaken(
                    f"setting node_id: {self.node_id!r} is held by another live node "
                    "(each process needs its own node_id)"
                )
            await asyncio.sleep(renew_every(self.lease_s))
        # A fixed id's earlier process may have left presence rows: they are not ours.
        stale = Stmt("DELETE FROM cluster_presence WHERE node_id = $1", (self.node_id,))
        await self.db.write(stale)
        await self._refresh()

    async def _claim_once(self) -> bool:
        started = self._monotonic()
        rows = await self.db.write(Stmt(CLAIM_SQL, (self.node_id, self.incarnation, self.lease_s)))
        if not rows[0]:
            return False
        self._renewed_at = started
        return True

    async def renew(self) -> None:
        """Renew the lease (claiming it again if it was swept), sweep dead nodes, refresh the
        live set. Errors propagate (the caller logs and retries)."""
        started = self._monotonic()
        # On the read pool (one autocommit statement), not through the group-commit writer: a
        # burst of station writes queued there must not make this node miss its lease.
        rows = await self.db.fetch(RENEW_SQL, self.node_id, self.incarnation, self.lease_s)
        if rows:
            self._renewed_at = started
        else:
            log.warning("cluster: node %s lost its lease; claiming it again", self.node_id)
            if await self._claim_once():
                await self._on_reclaimed()
        swept = await self.db.fetch(
            "SELECT gone_station, gone_version, gone_node FROM cluster_sweep()"
        )
        gone = [(r["gone_station"], int(r["gone_version"]), r["gone_node"]) for r in swept]
        if gone:
            nodes = sorted({node for _, _, node in gone})
            log.warning(
                "cluster: dead node(s) %s: %d station(s) offline", ", ".join(nodes), len(gone)
            )
            metrics.SWEPT.inc(len(gone))
            await self._on_swept(gone)
        await self._refresh()

    async def _refresh(self) -> None:
        rows = await self.db.fetch(LIVE_SQL)
        self.live = frozenset(r["node_id"] for r in rows)
        metrics.LIVE_NODES.set(len(self.live))

    async def run(self) -> None:
        """Renew every third of the lease until cancelled; a failed renewal is logged (the
        lease may lapse: /readyz then says so, and the other nodes sweep this node)."""
        while True:
            await asyncio.sleep(renew_every(self.lease_s))
            try:
                await self.renew()
            except Exception as exc:  # any database error: try again next period
                log.error("cluster: cannot renew the node lease: %r", exc)

    async def release(self) -> None:
        """On an orderly shutdown: give up the lease now, so the others sweep at once."""
        await self.db.write(
            Stmt(
                "UPDATE cluster_nodes SET lease_until = now() - interval '1 second' "
                "WHERE node_id = $1 AND incarnation = $2",
                (self.node_id, self.incarnation),
            )
        )
