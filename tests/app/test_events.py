"""The event bus: fan-out (to the subscribers of each kind), a slow subscriber loses its oldest
events, and mypy checks its users."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from csms import events
from csms.events import EventBus

A = events.StationConnected("A", 1.0)
B = events.StationDisconnected("A", 2.0)
C = events.StationApproved("A", 3.0)


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    first, second = bus.subscribe(), bus.subscribe()
    for event in (A, B):
        bus.publish(event)
    assert [first.get_nowait(), first.get_nowait()] == [A, B]
    assert [second.get_nowait(), second.get_nowait()] == [A, B]
    bus.unsubscribe(first)
    bus.publish(C)
    assert first.empty() and second.get_nowait() == C


async def test_a_subscriber_that_falls_behind_loses_its_oldest_event() -> None:
    bus = EventBus(maxsize=2)
    slow = bus.subscribe()
    for event in (A, B, C):
        bus.publish(event)
    assert [slow.get_nowait(), slow.get_nowait()] == [B, C]


async def test_a_subscriber_that_names_kinds_gets_only_those() -> None:
    bus = EventBus()
    everything = bus.subscribe()
    connects = bus.subscribe(events.StationConnected, events.StationDisconnected)
    sample = events.MeterSampled("A", 1, None, 4.0)
    for event in (A, sample, B, C):
        bus.publish(event)
    assert [everything.get_nowait() for _ in range(4)] == [A, sample, B, C]
    assert [connects.get_nowait(), connects.get_nowait()] == [A, B] and connects.empty()
    # A subscriber that comes later is routed too (the routes are worked out again).
    approvals = bus.subscribe(events.StationApproved)
    bus.publish(C)
    assert approvals.get_nowait() == C and connects.empty()
    bus.unsubscribe(approvals)
    bus.publish(C)
    assert approvals.empty() and everything.qsize() == 2


# Each case: code using the bus, and the mypy error it must raise (None: it must pass).
MYPY_CASES = {
    "narrowed handler": (
        """
        async def on_event(bus: EventBus) -> int:
            event = await bus.subscribe().get()
            if isinstance(event, events.ConnectorStatusChanged):
                return event.connector_id
            return 0
        """,
        None,
    ),
    "field read without narrowing": (
        """
        async def on_event(bus: EventBus) -> int:
            event = await bus.subscribe().get()
            return event.connector_id
        """,
        'Item "StationConnected" of',
    ),
    "publish something that is not an event": (
        """
        def send(bus: EventBus) -> None:
            bus.publish({"station_id": "A"})
        """,
        'Argument 1 to "publish" of "EventBus" has incompatible type',
    ),
}


@pytest.mark.parametrize("case", list(MYPY_CASES))
def test_mypy_checks_the_users_of_the_bus(case: str, tmp_path: Path) -> None:
    body, error = MYPY_CASES[case]
    source = "from csms import events\nfrom csms.events import EventBus\n" + textwrap.dedent(body)
    module = tmp_path / "bus_user.py"
    module.write_text(source)
    out, err, status = mypy_api.run(
        ["--strict", "--cache-dir", str(tmp_path / "cache"), str(module)]
    )
    if error is None:
        assert status == 0, out + err
    else:
        assert status == 1 and error in out, out + err
