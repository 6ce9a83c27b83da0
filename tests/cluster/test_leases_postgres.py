"""The lease statements on a real PostgreSQL: one holder per site, a new epoch at every
take-over, renewal in the same epoch, release, spreading, and the local view's early end."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest

from csms.cluster.handover import hand_over
from csms.cluster.leases import SINGLETON, LeaseKeeper
from csms.storage import Database, open_database
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    db = open_database(postgres_url)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


def keeper(
    db: Database,
    node: str,
    sites: list[str],
    lease_s: float = 20,
    monotonic: Callable[[], float] = time.monotonic,
) -> LeaseKeeper:
    """A keeper whose lease in the database lasts `lease_s`."""
    return LeaseKeeper(db, node, sites, takeover_s=lease_s * 3 / 2, monotonic=monotonic)


async def test_one_holder_then_a_new_epoch_after_expiry(pg: Database) -> None:
    a, b = keeper(pg, "a", ["s"], lease_s=1), keeper(pg, "b", ["s"], lease_s=1)
    await a.round()
    await b.round()
    assert a.epoch("s") == 1 and b.epoch("s") is None
    row = await pg.fetchrow("SELECT node_id, epoch FROM site_leases WHERE site_id = 's'")
    assert row == {"node_id": "a", "epoch": 1}

    # a stops renewing: after the lease (the database's clock) b takes the site in epoch 2.
    async def b_takes() -> bool:
        await b.round()
        return b.epoch("s") is not None

    for _ in range(100):
        if await b_takes():
            break
        await pg.fetchval("SELECT pg_sleep(0.05)")
    assert b.epoch("s") == 2
    await a.round()  # a's renewal of epoch 1 fails: it no longer believes it leads
    assert a.epoch("s") is None and not a.valid("s", 1)


async def test_renewal_keeps_the_epoch(pg: Database) -> None:
    clock = Clock()
    a = keeper(pg, "a", ["s"], lease_s=30, monotonic=clock)
    await a.round()
    first = a.held["s"]
    clock.now += 10
    await a.round()
    assert a.held["s"].epoch == first.epoch == 1
    assert a.held["s"].valid_until == first.valid_until + 10


async def test_the_local_view_ends_without_the_database(pg: Database) -> None:
    """No round needed: the fencing check compares the local expiry with the local clock."""
    clock = Clock()
    a = keeper(pg, "a", ["s"], lease_s=10, monotonic=clock)
    await a.round()
    assert a.valid("s", 1)
    clock.now += 10 - a.margin_s - 0.01
    assert a.valid("s", 1)
    clock.now += 0.02
    assert not a.valid("s", 1) and a.epoch("s") is None
    # The database still holds the lease for the margin and more: nobody can take it yet.
    b = keeper(pg, "b", ["s"], lease_s=10)
    await b.round()
    assert b.epoch("s") is None


async def test_release_frees_the_site_at_once(pg: Database) -> None:
    a, b = keeper(pg, "a", ["s"]), keeper(pg, "b", ["s"])
    await a.round()
    stopped: list[str] = []

    async def stop(key: str) -> None:
        stopped.append(key)

    a.before_release = stop
    assert sorted(await hand_over(a)) == sorted(["s", SINGLETON, "__node__:a"])
    assert "s" in stopped and a.epoch("s") is None
    await a.round()  # a stopping keeper takes nothing again
    assert a.epoch("s") is None
    await b.round()
    assert b.epoch("s") == 2


async def test_sites_spread_over_the_nodes(pg: Database) -> None:
    sites = ["s1", "s2", "s3", "s4"]
    a = keeper(pg, "a", sites)
    await a.round()
    assert sorted(k for k in sites if a.epoch(k)) == sites  # alone: every site
    b = keeper(pg, "b", sites)
    for _ in range(4):  # a releases one surplus site a round, b takes what is free
        await b.round()
        await a.round()
    led_a = {k for k in sites if a.epoch(k)}
    led_b = {k for k in sites if b.epoch(k)}
    assert len(led_a) == len(led_b) == 2 and not led_a & led_b
    # The singleton is held by exactly one of them.
    assert (a.epoch(SINGLETON) is None) != (b.epoch(SINGLETON) is None)


async def test_the_expiry_watch_wakes_the_waiters(pg: Database) -> None:
    import asyncio

    a = keeper(pg, "a", ["s"], lease_s=2)
    await a.round()
    task = asyncio.create_task(a._expire())
    try:
        waiter = asyncio.create_task(a.wait_change())
        # No renewal: the local view ends lease − margin after the send, and waiters wake.
        await asyncio.wait_for(waiter, 10)
        await eventually(lambda: a.epoch("s") is None, 10)
    finally:
        task.cancel()


async def test_the_leader_is_named_only_while_its_listed_lease_runs(pg: Database) -> None:
    """Where another node's MeterValues go (the relay): after the lease it last listed has run
    out, no leader is known until the next round (the site may have been taken over)."""
    clock = Clock()
    a, b = keeper(pg, "a", ["s"], lease_s=20), keeper(pg, "b", [], monotonic=clock)
    await a.round()
    await b.round()  # lists a's lease: about 20 s left
    assert a.leading_now("s") == "a" and b.leading_now("s") == "a"
    clock.now += 19
    assert b.leading_now("s") == "a"
    clock.now += 2  # past the lease as listed (a could have died and another taken over)
    assert b.leading_now("s") is None
    await b.round()  # listed again: the lease still runs by the database's clock
    assert b.leading_now("s") == "a"
    assert b.leading_now("unknown") is None
