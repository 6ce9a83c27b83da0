"""The adaptive limit of snapshots in flight (csms/config/pacing.py)."""

from __future__ import annotations

import asyncio

import pytest

from csms.config.pacing import PacingRule, SnapshotGate, next_limit

RULE = PacingRule(start=8, floor=4, ceiling=20, target_s=2.0, lag_target_s=0.025, decrease=0.75)


@pytest.mark.parametrize(
    ("limit", "took_s", "lag_s", "expected"),
    [
        (8, 0.1, 0.0, 9),  # quick: one more
        (8, 2.0, 0.0, 9),  # at the target still counts as quick
        (20, 0.1, 0.0, 20),  # never above the ceiling
        (8, 2.5, 0.0, 6),  # slow: a quarter fewer
        (5, 10.0, 0.0, 4),  # never below the floor
        (4, 10.0, 0.0, 4),
        (6.5, 0.1, 0.0, 7.5),
        (8, 0.1, 0.025, 9),  # the loop late by the target: still quick
        (8, 0.1, 0.030, 6),  # quick itself, but the loop runs late: a quarter fewer
        (4, 0.1, 0.5, 4),  # never below the floor, however late
        (8, 2.5, 0.5, 6),  # both: one decrease, not two
    ],
)
def test_next_limit(limit: float, took_s: float, lag_s: float, expected: float) -> None:
    assert next_limit(limit, took_s, lag_s, RULE) == expected


async def test_the_gate_lets_fewer_through_while_the_event_loop_runs_late() -> None:
    lag = [0.0]
    gate = SnapshotGate(PacingRule(start=4, floor=1, ceiling=8), lag=lambda: lag[0])
    for _ in range(2):
        async with gate.slot():
            pass
    assert gate.limit == 6
    lag[0] = 0.2  # e.g. an accept storm: each snapshot that ends now takes a quarter off
    for _ in range(3):
        async with gate.slot():
            pass
    assert gate.limit == 6 * 0.75**3
    lag[0] = 0.0
    async with gate.slot():
        pass
    assert gate.limit == 6 * 0.75**3 + 1


async def test_the_gate_lets_in_no_more_than_the_limit_first_come_first_served() -> None:
    now = [0.0]
    gate = SnapshotGate(PacingRule(start=2, floor=1, ceiling=3, target_s=1.0), lambda: now[0])
    entered: list[int] = []
    release = {i: asyncio.Event() for i in range(6)}

    async def snapshot(i: int) -> None:
        async with gate.slot():
            entered.append(i)
            await release[i].wait()

    tasks = [asyncio.create_task(snapshot(i)) for i in range(6)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert entered == [0, 1] and gate.in_flight == 2
    release[0].set()  # quick: the limit grows to 3, two more enter
    for _ in range(5):
        await asyncio.sleep(0)
    assert entered == [0, 1, 2, 3] and gate.limit == 3
    now[0] = 5.0  # the next ones took long: the limit shrinks to its floor
    release[1].set()
    release[2].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert gate.limit == 1.6875 and gate.in_flight == 1 and entered == [0, 1, 2, 3]
    release[3].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert entered == [0, 1, 2, 3, 4] and gate.in_flight == 1
    release[4].set()
    release[5].set()
    await asyncio.gather(*tasks)
    assert gate.in_flight == 0 and entered == list(range(6)) and gate.peak == 3


async def _one_holder_one_waiter() -> tuple[
    SnapshotGate, asyncio.Event, asyncio.Task[None], asyncio.Task[None]
]:
    """A gate of one place: `first` holds it until `hold` is set, `waiter` queues behind it."""
    gate = SnapshotGate(PacingRule(start=1, floor=1, ceiling=1))
    hold = asyncio.Event()

    async def holder() -> None:
        async with gate.slot():
            await hold.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0)
    return gate, hold, first, waiter


async def test_a_cancelled_waiter_leaves_the_queue_and_frees_nothing_it_did_not_take() -> None:
    gate, hold, first, waiter = await _one_holder_one_waiter()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.in_flight == 1 and not gate._waiting
    hold.set()
    await first
    assert gate.in_flight == 0


async def test_a_waiter_cancelled_as_the_slot_frees_stays_cancelled() -> None:
    """The holder leaves (its release skips the cancelled ticket) before the cancelled waiter
    runs: the waiter must end cancelled, not with a ValueError that a worker's `except
    Exception` would swallow (`csms serve` then hung on SIGTERM)."""
    gate, hold, first, waiter = await _one_holder_one_waiter()
    hold.set()  # the holder runs first and releases its slot ...
    waiter.cancel()  # ... then the waiter, its ticket already gone from the queue
    await first
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.in_flight == 0 and not gate._waiting
