"""MeterPoller against the simulated meter: outages, reconnects, health, metrics (acceptance 3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import REGISTRY

from csms.meter.config import MeterSettings
from csms.meter.health import MeterState
from csms.meter.poller import MeterPoller
from csms.meter.reading import MeterReading
from csms.meter.sources import make_source

FAST = {"poll_interval_s": 0.1, "timeout_s": 0.3, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2}


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for a condition; the bound only stops a broken test from hanging."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


class ManualClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def running(poller: MeterPoller) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(poller.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def site() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def test_stale_within_timeout_plus_one_poll_then_resumes(meter_sim) -> None:
    """Acceptance 3, on an injected clock so the bound is exact and load cannot flake it."""
    clock = ManualClock()
    readings: list[MeterReading] = []
    timeout_s, poll_s = 10.0, FAST["poll_interval_s"]
    poller = MeterPoller(
        meter_sim.settings(**FAST),
        readings.append,
        clock,
        site_id=site(),
        meter_timeout_s=timeout_s,
        lost_after_s=120.0,
    )
    async with running(poller):
        await wait_until(lambda: poller.state is MeterState.OK)
        last_at = clock.now
        await meter_sim.sim.outage("stop")
        await wait_until(lambda: poller.health.errors > 0)
        clock.now += timeout_s - 0.01
        await asyncio.sleep(3 * poll_s)
        assert poller.state is MeterState.OK  # not stale before the timeout
        clock.now += poll_s
        await wait_until(lambda: poller.state is MeterState.STALE)
        assert poller.health.since <= last_at + timeout_s + poll_s

        # The meter comes back: readings resume without restarting anything.
        count = len(readings)
        await meter_sim.sim.restore()
        clock.now += 1
        await wait_until(lambda: poller.state is MeterState.OK and len(readings) > count)
        assert readings[-1].at == clock.now
        assert readings[-1].current_a == (10.0, 8.0, 12.0)
    assert poller.connects >= 2


@pytest.mark.parametrize("mode", ["stop", "silent", "error"])
async def test_real_time_outage_and_recovery(meter_sim, mode) -> None:
    readings: list[MeterReading] = []
    states: list[MeterState] = []
    poller = MeterPoller(
        meter_sim.settings(**FAST),
        readings.append,
        site_id=site(),
        meter_timeout_s=0.5,
        lost_after_s=60,
        on_state_change=states.append,
    )
    async with running(poller):
        await wait_until(lambda: poller.state is MeterState.OK)
        await meter_sim.sim.outage(mode)
        stopped = time.time()
        await wait_until(lambda: poller.state is MeterState.STALE)
        detected = time.time() - stopped
        print(f"{mode}: stale {detected:.2f} s after the outage (timeout 0.5 s + poll 0.1 s)")
        meter_sim.sim.set_pv(20)
        await meter_sim.sim.restore()
        await wait_until(lambda: poller.state is MeterState.OK and readings[-1].current_a[0] < 0)
    assert readings[-1].current_a == (-10.0, -12.0, -8.0)
    assert states == [MeterState.OK, MeterState.STALE, MeterState.OK]
    assert poller.health.last_error  # why it went stale is kept for the API


async def test_lost_after_the_long_outage_is_logged_like_the_station(meter_sim, caplog) -> None:
    caplog.set_level(logging.INFO, logger="csms.meter")
    poller = MeterPoller(
        meter_sim.settings(**FAST),
        lambda _r: None,
        site_id="home",
        meter_timeout_s=0.2,
        lost_after_s=0.5,
    )
    async with running(poller):
        await wait_until(lambda: poller.state is MeterState.OK)
        await meter_sim.sim.outage("stop")
        await wait_until(lambda: poller.state is MeterState.LOST)
        await meter_sim.sim.restore()
        await wait_until(lambda: poller.state is MeterState.OK)
    lines = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if "Meter" in r.getMessage() or "Communication" in r.getMessage()
    ]
    levels = [level for level, _ in lines]
    assert levels == [logging.INFO, logging.WARNING, logging.ERROR, logging.INFO]
    assert lines[1][1].startswith("Communication warning for meter home (socomec-e27 unit 5")
    assert lines[2][1].startswith("Communication error for meter home")
    assert "connected again" in lines[3][1]


async def test_one_connection_per_meter_and_none_left_after_cancel(meter_sim) -> None:
    readings: list[MeterReading] = []
    poller = MeterPoller(meter_sim.settings(**FAST), readings.append, site_id=site())
    async with running(poller):
        await wait_until(lambda: len(readings) >= 5)
        assert meter_sim.sim.connections == 1
    await wait_until(lambda: meter_sim.sim.connections == 0)
    assert meter_sim.sim.total_connections == 1


async def test_nan_from_the_meter_is_rejected_not_passed_on(meter_sim_factory) -> None:
    meter = await meter_sim_factory("eastron-sdm630", household_a=5)
    readings: list[MeterReading] = []
    poller = MeterPoller(
        meter.settings(**FAST), readings.append, site_id=site(), meter_timeout_s=0.3
    )
    async with running(poller):
        await wait_until(lambda: poller.state is MeterState.OK)
        meter.sim.set_household([math.nan, 5, 5])
        await wait_until(lambda: poller.state is MeterState.STALE)
    assert all(math.isfinite(v) for r in readings for v in r.current_a)
    assert "current L1 is nan" in (poller.health.last_error or "")
    assert meter.sim.total_connections == 1  # a bad value is no reason to reconnect


async def test_metrics_per_site(meter_sim_factory) -> None:
    meter = await meter_sim_factory("abb-b23", household_a=(4, 5, 6), pv_a=(0, 0, 9))
    name = site()
    readings: list[MeterReading] = []
    poller = MeterPoller(meter.settings(**FAST), readings.append, site_id=name, meter_timeout_s=0.3)

    def sample(metric: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(metric, {"site": name, **labels})

    async with running(poller):
        await wait_until(lambda: len(readings) >= 2)
        assert sample("csms_meter_current_amperes", phase="L1") == 4.0
        assert sample("csms_meter_current_amperes", phase="L3") == -3.0
        assert sample("csms_meter_power_watts", phase="L3") == -690.0
        assert sample("csms_meter_health", csms_meter_health="ok") == 1.0
        age = sample("csms_meter_reading_age_seconds")
        assert age is not None and 0 <= age < 5
        assert (sample("csms_meter_readings_total") or 0) >= 2
        await meter.sim.outage("stop")
        await wait_until(lambda: poller.state is MeterState.STALE)
        assert sample("csms_meter_health", csms_meter_health="stale") == 1.0
        assert sample("csms_meter_health", csms_meter_health="ok") == 0.0
        assert (sample("csms_meter_read_errors_total") or 0) >= 1


async def test_unreachable_from_the_start_backs_off_and_stays_stale(unused_tcp_port) -> None:
    settings = MeterSettings(type="modbus", port=unused_tcp_port, **FAST)
    poller = MeterPoller(settings, lambda _r: None, site_id=site(), meter_timeout_s=0.2)
    async with running(poller):
        await wait_until(lambda: poller.connects >= 3)
    assert poller.state is MeterState.STALE
    assert poller.health.last_reading is None
    assert "cannot connect" in (poller.health.last_error or "")


async def test_type_none_returns_at_once() -> None:
    poller = MeterPoller(MeterSettings(type="none"), lambda _r: None, site_id=site())
    await asyncio.wait_for(poller.run(), 1)


async def test_a_cancel_swallowed_by_a_library_still_stops_the_source(monkeypatch) -> None:
    """Python 3.11's wait_for (used by pymodbus) can swallow a cancel; the source re-raises it."""
    from csms.meter import sources
    from csms.meter.reading import make_reading

    async def connect(self) -> None:
        return None

    async def swallowing_read(self) -> MeterReading:
        asyncio.current_task().cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)  # what wait_for does when the answer is already there
        return make_reading(1.0, [1, 1, 1])

    monkeypatch.setattr(sources.ModbusMeter, "connect", connect)
    monkeypatch.setattr(sources.ModbusMeter, "read", swallowing_read)
    accepted: list[MeterReading] = []
    source = sources.ModbusSource(MeterSettings(type="modbus", poll_interval_s=0.01))
    task = asyncio.create_task(source.run(accepted.append, lambda _r: None))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert accepted == []


async def test_a_cancel_swallowed_while_connecting_still_stops_the_poller(monkeypatch) -> None:
    """pymodbus' connect may swallow a cancel (3.11's wait_for) and then report failure; the
    poller must still stop instead of reconnecting for ever (this hung a suite run)."""
    from csms.meter import modbus

    async def swallowing_connect(self) -> None:
        asyncio.current_task().cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        raise modbus.MeterUnreachable("cannot connect (test)")

    monkeypatch.setattr(modbus.ModbusMeter, "connect", swallowing_connect)
    settings = MeterSettings(type="modbus", port=1, **FAST)
    poller = MeterPoller(settings, lambda _r: None, site_id=site(), meter_timeout_s=0.2)
    task = asyncio.create_task(poller._connect_loop(make_source(settings)))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
