"""Site leases with a fencing epoch: one leader per site, chosen through PostgreSQL.

A row per site in `site_leases` (site_id, node_id, epoch, lease_until), taken and renewed with
single statements on the database's clock (`now()`): a node takes a site that is free or whose
lease ran out (epoch + 1) and renews one it holds (same epoch). Reserved keys hold cluster-wide
singleton jobs (`SINGLETON`) and, until the node-lease table is used, each node's presence
(`PRESENCE_PREFIX` + node id), the same way.

The bound (`site_takeover_s`, T): the lease in the database lasts 2T/3 and every node runs a
round every T/3, so a site whose leader dies is taken within T of the leader's last renewal.

The node's own belief "I lead site S in epoch E" expires LOCALLY at the time the renewal was
sent + the lease − a margin, on this process's monotonic clock. The database's lease ends at
its `now()` when the statement ran + the lease, which is later: so a node cut off from the
database stops believing it leads (and its fenced sends stop) before another node can take the
site. The margin covers a send checked just before the local expiry and still on its way.

Spreading (`plan_round`): with `live` nodes and `n` sites, a node's fair share is
ceil(n / live). A node takes a free site only while it leads fewer than its share, and releases
one surplus site per round (gracefully: its loop stops first) when it leads more — so a node
that joins gets sites, and a node that dies leaves its sites to the others. Which sites a node
prefers is rendezvous hashing of (node, site), so nodes starting together try different sites.

The pure decisions take the clock as a number; `LeaseKeeper` is the thin shell that runs the
statements every round and wakes whoever waits on a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Gauge

from csms.storage import Database

log = logging.getLogger(__name__)

SINGLETON = "__cluster__"
"""The lease of the cluster-wide jobs that must run once (alert transitions, pruning)."""
PRESENCE_PREFIX = "__node__:"
"""A node's presence row (counts the live nodes when no node-lease table is given)."""

SITE_LEADER = Gauge(
    "csms_cluster_site_leader",
    "1 while this node leads the site (0: another node or none)",
    ["site"],
)
SITE_EPOCH = Gauge("csms_cluster_site_epoch", "The site's epoch as this node last saw it", ["site"])


# -- the pure core --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Held:
    """This node leads `key` in `epoch` until `valid_until` (local monotonic seconds)."""

    key: str
    epoch: int
    valid_until: float


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A row as the database showed it: who holds the key, in which epoch, still live?"""

    key: str
    node_id: str
    epoch: int
    live: bool
    until: float = math.inf
    """By this local monotonic time the lease has run out unless renewed (listed lease_until −
    the database's now(), from when the list arrived: never earlier than the database's)."""


@dataclass(frozen=True, slots=True)
class Round:
    """What one renewal round does: renew (key, epoch), take keys, release (key, epoch)."""

    renew: tuple[tuple[str, int], ...] = ()
    acquire: tuple[str, ...] = ()
    release: tuple[tuple[str, int], ...] = ()


def lease_timing(takeover_s: float) -> tuple[float, float]:
    """(the lease in the database, the time between rounds) for a take-over bound: a dead
    leader's lease runs out within 2T/3 of its last renewal, and another node's next round
    comes within T/3 of that."""
    return takeover_s * 2 / 3, takeover_s / 3


def margin_for(lease_s: float) -> float:
    """How long before the lease's end a node stops believing it leads: a fifth of the lease,
    at least half a second (a send checked at the last moment, clock-rate differences)."""
    return max(0.5, lease_s / 5)


def local_expiry(sent_at: float, lease_s: float, margin_s: float) -> float:
    """The local end of a lease renewed by a statement sent at `sent_at` (before the database
    ran it, so before its `now()`: the database's lease always outlives this)."""
    return sent_at + lease_s - margin_s


def is_valid(held: Held | None, epoch: int, now: float) -> bool:
    """Whether `held` still says this node leads in `epoch` at `now` (the fencing check)."""
    return held is not None and held.epoch == epoch and now < held.valid_until


def fair_share(sites: int, live_nodes: int) -> int:
    """The most sites one node should lead: ceil(sites / live nodes)."""
    return math.ceil(sites / max(1, live_nodes)) if sites else 0


def preference(node_id: str, key: str) -> int:
    """Rendezvous hash: the higher, the more this node wants the key."""
    return zlib.crc32(f"{node_id}/{key}".encode())


def plan_round(
    node_id: str,
    sites: Sequence[str],
    rows: Mapping[str, LeaseRow],
    held: Mapping[str, Held],
    live_nodes: int,
    now: float,
    always: Iterable[str] = (),
) -> Round:
    """One round's statements. `sites` are spread (fair share), `always` (singletons, this
    node's presence) are taken whenever free. A key counts as ours when our local view is still
    valid or the database shows our live row (a renewal that succeeded after we stopped
    believing it: renewing the same epoch is safe, nobody else held it)."""

    def ours(key: str) -> tuple[str, int] | None:
        h = held.get(key)
        if h is not None and now < h.valid_until:
            return key, h.epoch
        row = rows.get(key)
        if row is not None and row.live and row.node_id == node_id:
            return key, row.epoch
        return None

    def free(key: str) -> bool:
        row = rows.get(key)
        return row is None or not row.live

    renew: list[tuple[str, int]] = []
    acquire: list[str] = []
    for key in always:
        mine = ours(key)
        if mine is not None:
            renew.append(mine)
        elif free(key):
            acquire.append(key)
    led = [m for k in sites if (m := ours(k)) is not None]
    share = fair_share(len(sites), live_nodes)
    by_pref = sorted(led, key=lambda m: preference(node_id, m[0]))
    release = tuple(by_pref[:1]) if len(led) > share else ()  # one a round: hand-over is calm
    renew.extend(m for m in led if m not in release)
    if len(led) < share:
        candidates = sorted(
            (k for k in sites if ours(k) is None and free(k)),
            key=lambda k: -preference(node_id, k),
        )
        acquire.extend(candidates[: share - len(led)])
    return Round(tuple(renew), tuple(acquire), release)


# -- the SQL (single statements on the database's clock) --------------------------------------
ACQUIRE = """
INSERT INTO site_leases AS l (site_id, node_id, epoch, lease_until)
VALUES ($1, $2, 1, now() + make_interval(secs => $3))
ON CONFLICT (site_id) DO UPDATE
    SET node_id = EXCLUDED.node_id, epoch = l.epoch + 1, lease_until = EXCLUDED.lease_until
    WHERE l.lease_until <= now()
RETURNING epoch
"""
RENEW = """
UPDATE site_leases SET lease_until = now() + make_interval(secs => $4)
WHERE site_id = $1 AND node_id = $2 AND epoch = $3 AND lease_until > now()
RETURNING epoch
"""
RELEASE = """
UPDATE site_leases SET lease_until = now()
WHERE site_id = $1 AND node_id = $2 AND epoch = $3 AND lease_until > now()
"""
LIST = (
    "SELECT site_id, node_id, epoch, lease_until > now() AS live, "
    "EXTRACT(EPOCH FROM lease_until - now())::float8 AS left_s FROM site_leases"
)


# -- the shell ----------------------------------------------------------------------------------
class LeaseKeeper:
    """Takes, renews and releases this node's leases every `takeover_s`/3; answers the fencing check
    (`valid`) from its local view and wakes `wait_change` waiters when that view changes."""

    def __init__(
        self,
        db: Database,
        node_id: str,
        sites: Sequence[str],
        *,
        takeover_s: float,
        live_nodes: Callable[[], Awaitable[int]] | None = None,
        singletons: Sequence[str] = (SINGLETON,),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`live_nodes` counts the cluster's live nodes (the node-lease table); without it the
        nodes' presence rows in this table count them."""
        self.db = db
        self.node_id = node_id
        self.sites = list(sites)
        self.takeover_s = takeover_s
        self.lease_s, self.every_s = lease_timing(takeover_s)
        self.margin_s = margin_for(self.lease_s)
        self.released: list[str] = []  # keys given up (rebalancing, hand-over)
        self.monotonic = monotonic
        self._live_nodes = live_nodes
        self.always = [*singletons] + ([] if live_nodes else [PRESENCE_PREFIX + node_id])
        self.held: dict[str, Held] = {}
        self.rows: dict[str, LeaseRow] = {}
        self.stopping = False
        self.rounds = 0
        # Awaited before a lease is given up, so the site's loop is stopped first.
        self.before_release: Callable[[str], Awaitable[None]] | None = None
        self._round_lock = asyncio.Lock()  # a hand-over waits for a round in flight
        self._change = asyncio.Event()
        self._expiry_wake = asyncio.Event()
        for site in self.sites:
            SITE_LEADER.labels(site).set(0)

    # -- the local view (the fencing check) ----------------------------------------------------
    def epoch(self, key: str) -> int | None:
        """The epoch in which this node leads `key` now, or None."""
        h = self.held.get(key)
        return h.epoch if h is not None and self.monotonic() < h.valid_until else None

    def valid(self, key: str, epoch: int) -> bool:
        """Whether this node still leads `key` in `epoch` (checked before every limit sent)."""
        return is_valid(self.held.get(key), epoch, self.monotonic())

    def leader(self, key: str) -> LeaseRow | None:
        """Who leads `key` as the database last showed it (ours: from the local view)."""
        epoch = self.epoch(key)
        if epoch is not None:
            return LeaseRow(key, self.node_id, epoch, True)
        row = self.rows.get(key)
        return row if row is not None and row.live and row.node_id != self.node_id else None

    def leading_now(self, key: str) -> str | None:
        """The node that may lead `key` at this moment: this node in its local view, else the
        holder of the lease as last listed while that lease runs (after it, until the next
        round, no one is known: another node may have taken it over)."""
        row = self.leader(key)
        if row is None or (row.node_id != self.node_id and self.monotonic() >= row.until):
            return None
        return row.node_id

    async def wait_change(self) -> None:
        """Return at the next change of the local view (a lease taken, lost or released)."""
        await self._change.wait()

    def _changed(self) -> None:
        for site in self.sites:
            SITE_LEADER.labels(site).set(1 if self.epoch(site) is not None else 0)
        self._change.set()
        self._change = asyncio.Event()
        self._expiry_wake.set()

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Renewal rounds and the local expiry watch, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._expire(), name="leases-expiry")
            while not self.stopping:
                started = self.monotonic()
                try:
                    async with asyncio.timeout(max(1.0, self.every_s)):
                        await self.round()
                except Exception as exc:  # the database is away: the local view runs out
                    log.warning("site leases: round failed: %s", exc or type(exc).__name__)
                # At a fixed rate: a slow round does not stretch the take-over bound.
                await asyncio.sleep(max(0.0, started + self.every_s - self.monotonic()))

    async def round(self) -> None:
        """List the leases, decide, and run the statements."""
        async with self._round_lock:
            if not self.stopping:
                await self._round()

    async def _round(self) -> None:
        rows = await self.db.fetch(LIST)
        listed = self.monotonic()
        self.rows = {
            r["site_id"]: LeaseRow(
                r["site_id"],
                r["node_id"],
                int(r["epoch"]),
                bool(r["live"]),
                listed + float(r["left_s"]),
            )
            for r in rows
        }
        for r in self.rows.values():
            if r.key in self.sites and r.live:
                SITE_EPOCH.labels(r.key).set(r.epoch)
        live = await self._count_live()
        plan = plan_round(
            self.node_id, self.sites, self.rows, self.held, live, self.monotonic(), self.always
        )
        for key, epoch in plan.release:
            log.info("site %s: released (epoch %d) so the sites spread over %d nodes", key,
                     epoch, live)  # fmt: skip
            await self._release(key, epoch)
        for key, epoch in plan.renew:
            sent = self.monotonic()
            renewed = await self.db.fetchval(RENEW, key, self.node_id, epoch, self.lease_s)
            self._set(key, None if renewed is None else int(renewed), sent)
        for key in plan.acquire:
            sent = self.monotonic()
            taken = await self.db.fetchval(ACQUIRE, key, self.node_id, self.lease_s)
            if taken is not None:
                log.info("%s: this node leads it now (epoch %d)", key, int(taken))
                self._set(key, int(taken), sent)
        self.rounds += 1

    def _set(self, key: str, epoch: int | None, sent: float) -> None:
        if self.stopping and epoch is not None:
            return  # handing over: a renewal that was in flight makes no new belief
        before = self.held.get(key)
        if epoch is None:
            if before is not None:
                log.warning("%s: lease lost (epoch %d)", key, before.epoch)
                del self.held[key]
                self._changed()
            return
        self.held[key] = Held(key, epoch, local_expiry(sent, self.lease_s, self.margin_s))
        if before is None or before.epoch != epoch or before.valid_until <= sent:
            self._changed()

    async def _count_live(self) -> int:
        if self._live_nodes is not None:
            return await self._live_nodes()
        return sum(1 for r in self.rows.values() if r.live and r.key.startswith(PRESENCE_PREFIX))

    async def _expire(self) -> None:
        """Drop local views at their local expiry (the database may not answer at all)."""
        while True:
            self._expiry_wake.clear()
            now = self.monotonic()
            expired = [h for h in self.held.values() if h.valid_until <= now]
            for h in expired:
                log.warning("%s: no renewal in time; this node stops leading (epoch %d)",
                            h.key, h.epoch)  # fmt: skip
                del self.held[h.key]
            if expired:
                self._changed()
            wait = min((h.valid_until - now for h in self.held.values()), default=self.lease_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.01, wait)):
                    await self._expiry_wake.wait()

    async def _release(self, key: str, epoch: int) -> None:
        """Stop believing first (fenced sends stop), let the site's loop stop, then free the
        row so another node takes the key at once."""
        if key in self.held:
            del self.held[key]
            self._changed()
        if self.before_release is not None:
            await self.before_release(key)
        await self.db.fetch(RELEASE, key, self.node_id, epoch)
        self.released.append(key)

    async def release_all(self, timeout_s: float = 5.0) -> list[str]:
        """Hand over (a stopping node): stop renewing, give up every lease, all at once and
        within `timeout_s` in all (a lease not released in time simply runs out); the keys
        released."""
        self.stopping = True
        mine = {k: h.epoch for k, h in self.held.items()}
        mine |= {k: r.epoch for k, r in self.rows.items() if r.live and r.node_id == self.node_id}
        for key in list(self.held):  # first of all: nothing is sent in our name any more
            del self.held[key]
        self._changed()
        try:
            async with asyncio.timeout(timeout_s):
                async with self._round_lock:  # a round in flight ends first
                    await asyncio.gather(*(self._release(k, e) for k, e in mine.items()))
        except Exception as exc:
            log.warning("hand-over: not every lease released: %s", exc or type(exc).__name__)
        return [k for k in mine if k in self.released]
