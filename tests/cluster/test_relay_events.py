"""Domain events between nodes: every event type survives serialisation, the relay puts local
events on the wide bus and the cluster channel, remote ones on the wide bus only."""

from __future__ import annotations

import asyncio
import dataclasses
import typing

import pytest

from csms import events
from csms.cluster import envelope
from csms.cluster.messaging import CLUSTER
from csms.cluster.relay import EventRelay, runs, to_site_leader
from tests.support.waiting import eventually

SAMPLES: list[events.Event] = [
    events.StationConnected("S-1", 1.0),
    events.StationDisconnected("S-1", 2.0),
    events.StationBooted("S-1", 3.0, "Accepted", "Alfen BV", "NG9xx", None),
    events.StationApproved("S-1", 4.0),
    events.SnapshotTaken("S-1", 5.0, 9, "boot", {"HeartbeatInterval": "300", "X": None}),
    events.ConnectorStatusChanged("S-1", 1, "Charging", "NoError", None, "0x01", 6.0),
    events.TransactionStarted("S-1", 1, 77, "TAG", 1000, 7.0),
    events.TransactionStopped("S-1", 77, 2000, "Local", 8.0, 1),
    events.MeterSampled(
        "S-1",
        1,
        77,
        9.0,
        {("Current.Import", "L1"): 6.5, ("Energy.Active.Import.Register", None): 1.0},
    ),
]


def test_every_event_type_has_a_sample() -> None:
    assert {type(e) for e in SAMPLES} == set(typing.get_args(events.Event))
    assert set(events.EVENT_TYPES.values()) == set(typing.get_args(events.Event))


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_events_round_trip_through_json(event: events.Event) -> None:
    text = envelope.encode(envelope.EventMessage("node-a", (event,)))
    decoded = envelope.decode(text)
    assert isinstance(decoded, envelope.EventMessage)
    assert decoded.events == (event,)
    assert dataclasses.asdict(decoded.events[0]) == dataclasses.asdict(event)


@pytest.mark.parametrize(
    "data",
    [
        {"type": "NoSuchEvent", "fields": {}},
        {"type": "StationConnected"},
        {"type": "StationConnected", "fields": {"station_id": "S"}},
        {"type": "StationConnected", "fields": {"station_id": "S", "at": 1, "extra": 2}},
    ],
)
def test_unknown_or_malformed_events_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(events.EventDecodeError):
        events.event_from_dict(data)


async def test_relay_sends_local_events_once_and_republishes_remote_ones_locally_only() -> None:
    local, wide = events.EventBus(), events.EventBus()
    sent: list[tuple[str, envelope.Message]] = []

    async def send(node: str, message: envelope.Message) -> None:
        sent.append((node, message))

    relay = EventRelay(local, wide, "a", send)
    local_seen, wide_seen = local.subscribe(), wide.subscribe()
    task = asyncio.create_task(relay.run())
    try:
        for event in SAMPLES[:3]:
            local.publish(event)
        await eventually(lambda: relay.sent == 3)
        relayed = [e for _, m in sent if isinstance(m, envelope.EventMessage) for e in m.events]
        assert relayed == SAMPLES[:3] and {node for node, _ in sent} == {CLUSTER}

        # Another node's events: on the wide bus, never on the local bus, never sent again.
        relay.received_message(envelope.EventMessage("b", tuple(SAMPLES[3:])))
        # This node's own batch coming back on the cluster channel is not published twice.
        relay.received_message(envelope.EventMessage("a", tuple(SAMPLES[:3])))
        await asyncio.sleep(0.1)  # let a wrong relay show itself
        assert relay.sent == 3
        assert [wide_seen.get_nowait() for _ in range(wide_seen.qsize())] == SAMPLES
        assert [local_seen.get_nowait() for _ in range(local_seen.qsize())] == SAMPLES[:3]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_batches_are_packed_into_notify_sized_messages_in_order() -> None:
    big = events.SnapshotTaken("S-1", 1.0, 1, "boot", {f"Key{i}": "v" * 50 for i in range(200)})
    batch = [*SAMPLES, big, *SAMPLES]
    messages = envelope.pack_events("a", batch)
    assert [e for m in messages for e in m.events] == batch
    assert (big,) in [m.events for m in messages]  # too large alone: by itself (via the table)
    for message in messages:
        if message.events != (big,):
            assert envelope.fits_notify(envelope.encode(message))
    many = envelope.pack_events("a", [SAMPLES[-1]] * 200)
    assert len(many) > 1 and all(envelope.fits_notify(envelope.encode(m)) for m in many)
    assert envelope.pack_events("a", []) == []


METER = SAMPLES[-1]  # a MeterSampled of S-1
LEADERS = {"home": "node-l", "mine": "a"}


@pytest.mark.parametrize(
    ("event", "site", "where"),
    [
        (SAMPLES[0], "home", CLUSTER),  # not MeterValues: every node
        (SAMPLES[5], None, CLUSTER),  # (of a station in no site too)
        (METER, "home", "node-l"),  # MeterValues: only the site's leader
        (METER, "mine", None),  # led here: this node's wide bus has it
        (METER, "vacant", CLUSTER),  # no leader known (a take-over): every node, as before
        (METER, None, None),  # in no site led anywhere: no loop reads it
    ],
)
def test_meter_values_go_only_to_the_leader_of_the_stations_site(
    event: events.Event, site: str | None, where: str | None
) -> None:
    destination = to_site_leader("a", lambda _: site, LEADERS.get)
    assert destination(event) == where


def test_runs_keep_the_order_and_leave_out_what_goes_nowhere() -> None:
    def destination(event: events.Event) -> str | None:
        return {"S-1": CLUSTER, "S-2": "node-l"}.get(event.station_id)

    s2 = events.MeterSampled("S-2", 1, 5, 1.0, {})
    s3 = events.MeterSampled("S-3", 1, 6, 1.0, {})
    started, stopped = SAMPLES[6], SAMPLES[7]
    assert runs([started, s2, s3, s2, stopped, started], destination) == [
        (CLUSTER, [started]),
        ("node-l", [s2, s2]),
        (CLUSTER, [stopped, started]),
    ]


async def test_the_relay_sends_meter_values_to_the_leader_and_keeps_its_own() -> None:
    local, wide = events.EventBus(), events.EventBus()
    sent: list[tuple[str, envelope.Message]] = []

    async def send(node: str, message: envelope.Message) -> None:
        sent.append((node, message))

    site_of = {"S-1": "home", "S-2": "mine"}.get
    relay = EventRelay(local, wide, "a", send, to_site_leader("a", site_of, LEADERS.get))
    wide_seen = wide.subscribe()
    task = asyncio.create_task(relay.run())
    try:
        own = events.MeterSampled("S-2", 1, 5, 1.0, {})
        batch = [SAMPLES[6], METER, own, SAMPLES[7]]
        for event in batch:
            local.publish(event)
        await eventually(lambda: relay.sent + relay.kept == 4)
        got = [(node, m.events) for node, m in sent if isinstance(m, envelope.EventMessage)]
        assert got == [(CLUSTER, (SAMPLES[6],)), ("node-l", (METER,)), (CLUSTER, (SAMPLES[7],))]
        assert (relay.sent, relay.kept) == (3, 1)
        assert [wide_seen.get_nowait() for _ in range(wide_seen.qsize())] == batch
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
