"""Domain events across nodes: each node's events on every node's cluster-wide bus.

A node has two buses. The local bus (`CentralSystem.bus`) carries only this node's events, as
on a single node: the services that act for the stations this node holds (configuration
snapshots, the event log, local lists, presence) subscribe there, so nothing is done twice.
The wide bus carries this node's events and every other node's: what must see the whole cluster
(the site control loops: statuses, meter values, transactions, snapshots, connects) subscribes
there.

`EventRelay` copies every local event to the wide bus and sends them, batched for up to
`BATCH_S` (one NOTIFY for many MeterValues, each NOTIFY within the payload limit), where
`destination` says: on the cluster channel, or — MeterValues (`to_site_leader`), which only
the loop of the station's site reads — on the channel of the node leading that site, or to no
other node (this node leads it, or the station is in no site led anywhere). Received batches of
other nodes go to the wide bus only. So an event is never relayed twice: the relay reads the
local bus, and remote events never enter it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from itertools import groupby
from operator import itemgetter

from csms import events
from csms.cluster import envelope, metrics
from csms.cluster.messaging import CLUSTER

log = logging.getLogger(__name__)

BATCH_S = 0.02
"""How long the relay gathers events before it sends them."""
BATCH_MAX = 50
"""At most this many events in one message (most fit one NOTIFY)."""

Send = Callable[[str, envelope.Message], Awaitable[None]]
Destination = Callable[[events.Event], str | None]
"""Where a local event goes besides this node's wide bus: `CLUSTER` (every node), one node's
id, or None (no other node)."""


def everywhere(event: events.Event) -> str | None:
    return CLUSTER


def to_site_leader(
    node_id: str, site_of: Callable[[str], str | None], leader_of: Callable[[str], str | None]
) -> Destination:
    """MeterValues to the node leading the station's site (`leader_of`: None while no leader is
    known, a take-over under way: then to every node, as any other event); the rest to every
    node. The other nodes' site loops are not running: they never read them."""

    def destination(event: events.Event) -> str | None:
        if not isinstance(event, events.MeterSampled):
            return CLUSTER
        site = site_of(event.station_id)
        if site is None:
            return None  # no loop reads it, on any node
        leader = leader_of(site)
        if leader is None:
            return CLUSTER
        return None if leader == node_id else leader

    return destination


def runs(
    batch: list[events.Event], destination: Destination
) -> list[tuple[str, list[events.Event]]]:
    """The batch's events that go to another node, as consecutive runs of one destination:
    sent one after the other, the runs keep a station's events in order on every node."""
    routed = [(where, event) for event in batch if (where := destination(event)) is not None]
    return [(where, [event for _, event in run]) for where, run in groupby(routed, itemgetter(0))]


class EventRelay:
    def __init__(
        self,
        local: events.EventBus,
        wide: events.EventBus,
        node_id: str,
        send: Send,
        destination: Destination = everywhere,
    ) -> None:
        self.local = local
        self.wide = wide
        self.node_id = node_id
        self._send = send
        self.destination = destination
        self._queue = local.subscribe()  # now: nothing published from here on is missed
        self.sent = 0
        self.kept = 0  # sent to no other node (MeterValues of a site led here, or of no site)
        self.received = 0

    async def run(self) -> None:
        try:
            while True:
                batch = [await self._queue.get()]
                self.wide.publish(batch[0])
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(BATCH_S):
                        while len(batch) < BATCH_MAX:
                            event = await self._queue.get()  # cancel-safe: nothing lost
                            self.wide.publish(event)
                            batch.append(event)
                await self._flush(batch)
        finally:
            self.local.unsubscribe(self._queue)

    async def _flush(self, batch: list[events.Event]) -> None:
        going = runs(batch, self.destination)
        kept = len(batch) - sum(len(run) for _, run in going)
        self.kept += kept
        metrics.RELAYED.labels("kept").inc(kept)
        try:
            for where, run in going:
                for message in envelope.pack_events(self.node_id, run):
                    await self._send(where, message)
                    self.sent += len(message.events)
                    metrics.RELAYED.labels("sent").inc(len(message.events))
        except Exception as exc:  # the database is away: the other nodes miss these events
            log.warning("cluster: %d event(s) not relayed: %r", len(batch) - kept, exc)

    def received_message(self, message: envelope.EventMessage) -> None:
        """A batch from the cluster channel: another node's events go to the wide bus."""
        if message.origin == self.node_id:
            return
        for event in message.events:
            self.wide.publish(event)
        self.received += len(message.events)
        metrics.RELAYED.labels("received").inc(len(message.events))
