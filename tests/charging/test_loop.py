"""The site loop's post-boot gate: no profile reaches a station before its capabilities were read
in its current connection, and then only after a pause (hand-written fakes, an injected clock)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from balancing import allocate
from csms import events
from csms.charging.loop import PROFILE_PAUSE_S, SiteLoop
from csms.meter.reading import MeterReading
from csms.settings import ChargingSettings, SiteSettings
from tests.support.waiting import eventually

A = "ALF-0001"
WATTS_ONLY = {
    "ChargingScheduleAllowedChargingRateUnit": "Power",
    "ChargeProfileMaxStackLevel": "3",
    "ChargingScheduleMaxPeriods": "5",
    "NumberOfConnectors": "1",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _no_call(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError("the test picks commands itself")


def make_loop(clock: Clock) -> SiteLoop:
    site = SiteSettings.model_validate({"id": "s", "grid_limit_a": 32, "stations": [{"id": A}]})
    return SiteLoop(
        site, ChargingSettings(), call=_no_call, online=lambda _: True, clock=clock,
        allocate=allocate,
    )  # fmt: skip


def charging_session(loop: SiteLoop, clock: Clock) -> None:
    loop.on_event(events.StationConnected(A, clock.now))
    loop.on_event(events.StationBooted(A, clock.now, "Accepted", "Alfen BV", "NG910", None))
    loop.on_event(events.ConnectorStatusChanged(A, 1, "Charging", "NoError", None, None, clock.now))
    loop.on_event(events.TransactionStarted(A, 1, 7, "TAG", 0, clock.now))


def sent(loop: SiteLoop, clock: Clock) -> list[dict[str, Any]]:
    loop.step()
    return [c.payload for c in loop.planner.next_commands(clock.now, loop.can_send)]


def test_no_profile_before_the_snapshot_of_this_connection_and_then_a_pause() -> None:
    clock = Clock()
    loop = make_loop(clock)
    loop.apply_snapshot(A, WATTS_ONLY)  # stored in an earlier run: informs, does not free
    charging_session(loop, clock)
    clock.now += 60
    assert sent(loop, clock) == []
    loop.on_event(events.SnapshotTaken(A, clock.now, 1, "boot", dict(WATTS_ONLY)))
    assert loop.is_ready(A) and sent(loop, clock) == []  # the pause after the read
    clock.now += PROFILE_PAUSE_S
    (first,) = sent(loop, clock)
    profile = first["csChargingProfiles"]
    assert profile["chargingSchedule"]["chargingRateUnit"] == "W"
    assert profile["stackLevel"] > 0  # from the snapshot (0 without one)


def test_a_reconnect_or_boot_needs_a_new_snapshot() -> None:
    for event in (
        events.StationConnected(A, 0.0),
        events.StationBooted(A, 0.0, "Accepted", "Alfen BV", "NG910", None),
        events.StationDisconnected(A, 0.0),
    ):
        clock = Clock()
        loop = make_loop(clock)
        charging_session(loop, clock)
        loop.on_event(events.SnapshotTaken(A, clock.now, 1, "boot", dict(WATTS_ONLY)))
        clock.now += PROFILE_PAUSE_S
        assert loop.can_send(A)
        loop.on_event(event)
        assert not loop.can_send(A) and not loop.is_ready(A), type(event).__name__
        loop.on_event(events.SnapshotTaken(A, clock.now, 2, "connect", dict(WATTS_ONLY)))
        clock.now += PROFILE_PAUSE_S
        assert loop.can_send(A)


def test_an_offline_station_gets_nothing() -> None:
    clock = Clock()
    site = SiteSettings.model_validate({"id": "s", "grid_limit_a": 32, "stations": [{"id": A}]})
    loop = SiteLoop(
        site, ChargingSettings(), call=_no_call, online=lambda _: False, clock=clock,
        allocate=allocate,
    )  # fmt: skip
    loop.on_event(events.SnapshotTaken(A, clock.now, 1, "boot", dict(WATTS_ONLY)))
    clock.now += PROFILE_PAUSE_S
    assert loop.is_ready(A) and not loop.can_send(A)


async def test_a_starting_loop_waits_for_its_first_reading_then_counts_the_meter_lost() -> None:
    """A restart or a take-over: the first step waits for the meter's first poll (no safe mode,
    no safe-mode alert, nothing sent for a meter that simply has not answered yet), but not for
    longer than `meter_timeout_s`, after which no reading is safe mode as for a silent meter."""
    site = SiteSettings.model_validate(
        {"id": "s", "grid_limit_a": 32, "meter_timeout_s": 0.5, "stations": [{"id": A}],
         "meter": {"type": "simulated", "host": "127.0.0.1", "port": 1}}
    )  # fmt: skip
    clock = Clock()

    def loop_of() -> SiteLoop:
        return SiteLoop(
            site, ChargingSettings(), call=_no_call, online=lambda _: True, clock=clock,
            allocate=allocate,
        )  # fmt: skip

    async def first_step(loop: SiteLoop) -> float:
        """Seconds until the loop's first step (bounded)."""
        began = time.monotonic()
        await eventually(lambda: loop.last is not None, 10)
        return time.monotonic() - began

    answering = loop_of()
    control = asyncio.create_task(answering._control())
    for _ in range(5):
        await asyncio.sleep(0)
    assert answering.last is None  # no step before the first reading
    answering.on_reading(MeterReading(clock.now, (10.0, 10.0, 10.0), None, None, "test"))
    await first_step(answering)
    assert answering.last is not None and not answering.last.allocation.safe_mode
    control.cancel()

    silent = loop_of()
    control = asyncio.create_task(silent._control())
    waited = await first_step(silent)
    assert waited >= 0.45  # meter_timeout_s, then the step in safe mode
    assert silent.last is not None and silent.last.allocation.safe_mode
    control.cancel()
