"""Simulated time and the shared tick (csms/sim/clock.py), and the site helper."""

from __future__ import annotations

import asyncio
import time

import pytest

from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from csms.sim.site import SimSite


async def test_speed_scales_now_and_sleep() -> None:
    clock = SimClock(speed=100, start=1000.0)
    real = time.monotonic()
    await clock.sleep(10)  # 0.1 s of real time
    elapsed_real = time.monotonic() - real
    assert elapsed_real < 1.0
    assert clock.now() - 1000.0 == pytest.approx(elapsed_real * 100, rel=0.2)


def test_advance_and_speed_change_do_not_go_backwards() -> None:
    clock = SimClock(speed=1, start=5000.0)
    clock.advance(3600)
    assert clock.now() >= 8600
    before = clock.now()
    clock.speed = 60
    assert clock.now() >= before
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SimClock(speed=0)


async def test_one_shared_tick_for_all_subscribers() -> None:
    clock = SimClock(speed=10, tick_s=1.0)  # a tick every 0.1 s of real time
    seen: list[tuple[str, float]] = []

    def broken(now: float) -> None:
        raise RuntimeError("a faulty station")

    clock.subscribe(broken)
    clock.subscribe(lambda now: seen.append(("a", now)))
    clock.subscribe(lambda now: seen.append(("b", now)))
    task = clock._task
    try:
        await asyncio.sleep(0.35)
        ticks_a = [t for name, t in seen if name == "a"]
        assert len(ticks_a) >= 2  # a broken handler does not stop the others
        assert len(ticks_a) == len([1 for name, _ in seen if name == "b"])
        assert ticks_a == sorted(ticks_a)
    finally:
        await clock.close()
    assert task is not None and task.done()


async def test_tick_task_ends_when_the_last_subscriber_leaves() -> None:
    clock = SimClock(min_tick_real_s=0.01, tick_s=0.01)

    def handler(now: float) -> None:
        pass

    clock.subscribe(handler)
    task = clock._task
    clock.unsubscribe(handler)
    assert task is not None
    await asyncio.wait_for(task, 1)


async def test_site_sums_grid_currents_over_stations(mini_cs, sim_site: SimSite) -> None:
    stations = sim_site.create(2, mini_cs.url, prefix="SITE-", sockets=2)
    assert [s.config.value("Phase-Connected") for s in stations] == ["L1L2L3", "L3L1L2"]
    await sim_site.start()
    await sim_site.wait_booted()
    stations[0].plug_in(1, SimEv(max_current_a=10, phases=1))  # socket 1 rotated: grid L3
    stations[1].plug_in(2, SimEv(max_current_a=8, phases=3))  # L3L1L2 feeder: all phases
    for station, connector in ((stations[0], 1), (stations[1], 2)):
        await station.wait_transaction(connector)
    sim_site.clock.advance(60)
    sim_site.clock.tick_now()
    assert sim_site.grid_currents() == (8.0, 8.0, 18.0)
    assert sim_site.station("SITE-0002") is stations[1]
    with pytest.raises(ValueError, match="clock"):
        sim_site.add(type(stations[0])("OTHER", mini_cs.url, clock=SimClock()))
