"""No re-pause of a resumed EV before its first sample (csms.charging.resume), pure and through
the site loop's control step (injected clock, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from balancing import LimitSource, allocate
from csms import events
from csms.charging.loop import SiteLoop
from csms.charging.resume import RESUME_HOLD_S, resumed_at
from csms.meter.reading import make_reading
from csms.settings import ChargingSettings, SiteSettings

A = "ALF-0001"
KEY = (A, 1)


@pytest.mark.parametrize(
    ("name", "history", "expected"),
    [
        ("nothing accepted yet", [], None),
        ("started at its minimum", [(10.0, 6.0)], 10.0),
        ("raised while charging keeps the rise", [(10.0, 6.0), (20.0, 9.0)], 10.0),
        ("resumed after a pause", [(10.0, 8.0), (20.0, 0.0), (30.0, 6.0)], 30.0),
        ("paused now", [(10.0, 8.0), (20.0, 0.0)], None),
        ("a share below the minimum is a pause", [(10.0, 8.0), (20.0, 4.0), (30.0, 7.0)], 30.0),
    ],
)
def test_when_a_session_was_resumed(name, history, expected):
    assert resumed_at(history, 6.0) == expected, name


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _no_call(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError("nothing is sent in these tests")


def resumed_near_the_limit(clock: Clock) -> SiteLoop:
    """One 3-phase EV on a 25 A grid (1 A margin) with 16 A household: room for 8 A. It was
    paused and measured drawing nothing; the loop resumes it at t=1100 with 8 A, which the
    station accepts at once — soon the meter shows its 8 A, but no sample has yet."""
    site = SiteSettings.model_validate({
        "id": "s", "grid_limit_a": 25, "margin_a": 1, "ramp_a_per_s": 100,
        "meter": {"type": "simulated", "host": "127.0.0.1", "port": 1502},
        "stations": [{"id": A}],
    })  # fmt: skip
    loop = SiteLoop(
        site, ChargingSettings(), call=_no_call, online=lambda _: True, clock=clock,
        allocate=allocate,
    )  # fmt: skip
    loop.on_event(events.ConnectorStatusChanged(A, 1, "Charging", "NoError", None, None, 1000.0))
    loop.on_event(events.TransactionStarted(A, 1, 7, "TAG", 0, 1000.0))
    loop.model.note_limit(KEY, 1000.0, 0.0)
    clock.now = 1010.0
    drawing_nothing = {("Current.Import", f"L{n}"): 0.0 for n in (1, 2, 3)}
    loop.on_event(events.MeterSampled(A, 1, 7, clock.now, drawing_nothing))
    assert step_at(loop, clock, 1090.0, 16.0) == (6.0, LimitSource.RAMP)  # the first step
    assert step_at(loop, clock, 1100.0, 16.0) == (8.0, LimitSource.GRID_PHASE)
    loop.model.note_limit(KEY, 1100.0, 8.0)
    return loop


def step_at(loop: SiteLoop, clock: Clock, at: float, grid_a: float) -> tuple[float, str]:
    clock.now = at
    loop.on_reading(make_reading(at, (grid_a, grid_a, grid_a), source="simulated"))
    limit = loop.step().limits[KEY]
    return limit.value_a, limit.source


def test_a_resumed_ev_keeps_its_minimum_until_its_first_sample() -> None:
    clock = Clock()
    loop = resumed_near_the_limit(clock)
    # Its 8 A count as household (its estimate is 0 until a sample shows it): no room left, so
    # the balancer pauses it; the loop keeps it at its minimum instead.
    assert step_at(loop, clock, 1105.0, 24.0) == (6.0, LimitSource.RESUMING)
    assert loop.last is not None
    assert loop.last.allocation.get(KEY).binding.source is LimitSource.MIN_CURRENT
    assert step_at(loop, clock, 1106.0, 24.0) == (6.0, LimitSource.RESUMING)  # still no sample
    # Its first sample shows the 8 A: the household is 16 A, the balancer gives it 8 A itself.
    sample = {("Current.Import", f"L{n}"): 8.0 for n in (1, 2, 3)}
    loop.on_event(events.MeterSampled(A, 1, 7, clock.now, sample))
    assert step_at(loop, clock, 1107.0, 24.0) == (8.0, LimitSource.GRID_PHASE)


def test_a_session_the_loop_never_gave_a_share_is_not_held() -> None:
    # A new session on the safe default that the balancer pauses in its first step: no hold.
    clock = Clock()
    loop = resumed_near_the_limit(clock)
    loop.last = None  # as if this were the loop's first step
    assert step_at(loop, clock, 1105.0, 24.0) == (0.0, LimitSource.MIN_CURRENT)


@pytest.mark.parametrize(
    ("name", "at", "grid_a"),
    [
        # The meter itself over the limit less half the margin: the pause stands (urgent cut).
        ("measured overload", 1105.0, 24.6),
        # No sample for longer than the hold: the balancer's pause stands.
        ("hold over", 1100.0 + RESUME_HOLD_S + 1, 22.0),
    ],
)
def test_the_hold_gives_way_to_safety(name, at, grid_a) -> None:
    clock = Clock()
    loop = resumed_near_the_limit(clock)
    value, source = step_at(loop, clock, at, grid_a)
    assert value == 0.0 and source is LimitSource.MIN_CURRENT, name


def test_no_hold_in_safe_mode() -> None:
    clock = Clock()
    loop = resumed_near_the_limit(clock)
    clock.now = 1105.0
    limit = loop.step().limits.get(KEY)  # no reading at all: safe mode, 6 A for all EVs
    assert limit is not None and limit.source is not LimitSource.RESUMING
