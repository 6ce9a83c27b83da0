"""MeterHealth (pure): ok → stale after the timeout → lost after the long outage → ok again."""

from __future__ import annotations

import logging

import pytest

from csms.meter.health import MeterHealth, MeterState
from csms.meter.reading import make_reading


def reading(at: float):
    return make_reading(at, [1, 2, 3], source="test")


def test_starts_stale_and_turns_ok_on_the_first_reading() -> None:
    health = MeterHealth("home", timeout_s=10, lost_after_s=120, now=0)
    assert health.state is MeterState.STALE
    assert health.check(5) == []  # no warning before anything was ever read
    events = health.reading(reading(5), 5)
    assert [e.state for e in events] == [MeterState.OK]
    assert events[0].level == logging.INFO
    assert "first reading" in events[0].message
    assert health.since == 5


def test_stale_exactly_at_the_timeout_then_lost_then_recovery() -> None:
    health = MeterHealth("home", timeout_s=10, lost_after_s=120, now=0)
    health.reading(reading(0), 0)
    assert health.check(9.99) == []
    assert health.state is MeterState.OK

    stale = health.failure("connection refused", 10)
    assert [(e.state, e.level) for e in stale] == [(MeterState.STALE, logging.WARNING)]
    assert "Communication warning" in stale[0].message
    assert "connection refused" in stale[0].message
    assert health.check(60) == []  # no repeats while the state holds

    lost = health.check(120)
    assert [(e.state, e.level) for e in lost] == [(MeterState.LOST, logging.ERROR)]
    assert "Communication error" in lost[0].message
    assert health.check(500) == []

    back = health.reading(reading(130), 130)
    assert [(e.state, e.previous, e.level) for e in back] == [
        (MeterState.OK, MeterState.LOST, logging.INFO)
    ]
    assert "readings resume after 130 s" in back[0].message
    assert health.last_error == "connection refused"


def test_failures_alone_do_not_make_a_fresh_meter_stale() -> None:
    health = MeterHealth("home", timeout_s=10, lost_after_s=120, now=0)
    health.reading(reading(100), 100)
    assert health.failure("one bad frame", 101) == []
    assert health.state is MeterState.OK
    assert health.errors == 1


def test_a_meter_never_read_becomes_lost_after_the_long_outage() -> None:
    health = MeterHealth("home", timeout_s=10, lost_after_s=120, now=0)
    assert [e.state for e in health.failure("refused", 120)] == [MeterState.LOST]


def test_next_deadline_and_snapshot() -> None:
    health = MeterHealth("home", timeout_s=10, lost_after_s=120, now=0)
    assert health.next_deadline() == 120
    health.reading(reading(50), 50)
    assert health.next_deadline() == 60
    snap = health.snapshot(53)
    assert snap["state"] == "ok"
    assert snap["age_s"] == 3
    assert snap["last_reading"]["current_a"] == [1.0, 2.0, 3.0]


def test_timeouts_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        MeterHealth("home", timeout_s=10, lost_after_s=5, now=0)
