"""Reconnect backoff: grows, caps, jitters within [d/2, d], resets after success."""

from __future__ import annotations

import random

import pytest

from csms.meter.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(7))
    ceilings = [1, 2, 4, 8, 8, 8]
    for ceiling in ceilings:
        delay = backoff.next_delay()
        assert ceiling / 2 <= delay <= ceiling


def test_jitter_spreads_pollers_that_failed_together() -> None:
    delays = {Backoff(1.0, 30.0, random.Random(seed)).next_delay() for seed in range(20)}
    assert len(delays) == 20


def test_reset_returns_to_the_shortest_delay() -> None:
    backoff = Backoff(0.5, 30.0, random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_invalid_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(5.0, 1.0)
