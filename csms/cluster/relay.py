"""Domain events across nodes: each node's events on every node's cluster-wide bus.

A node has two buses. The local bus (`CentralSystem.bus`) carries only this node's events, as
on a single node: the services that act for the stations this node holds (configuration
snapshots, the event log, local lists, presence) subscribe there, so nothing is done twice.
The wide bus carries this node's events and every other node's: what must see the whole cluster
(the site control loops: statuses, meter values, transactions, snapshots, connects) subscribes
there.

`EventRelay` copies every local event to the wide bus and sends them, batched for up to
`BATCH_S` (one NOTIFY for many MeterValues, each NOTIFY within the payload limit), on the
cluster channel; received batches of other
nodes go to the wide bus only. So an event is never relayed twice: the relay reads the local
bus, and remote events never enter it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from csms import events
from csms.cluster import envelope, metrics
from csms.cluster.messaging import CLUSTER

log = logging.getLogger(__name__)

BATCH_S = 0.02
"""How long the relay gathers events before it sends them."""
BATCH_MAX = 50
"""At most this many events in one message (most fit one NOTIFY)."""

Send = Callable[[str, envelope.Message], Awaitable[None]]


class EventRelay:
    def __init__(
        self, local: events.EventBus, wide: events.EventBus, node_id: str, send: Send
    ) -> None:
        self.local = local
        self.wide = wide
        self.node_id = node_id
        self._send = send
        self._queue = local.subscribe()  # now: nothing published from here on is missed
        self.sent = 0
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
        try:
            for message in envelope.pack_events(self.node_id, batch):
                await self._send(CLUSTER, message)
                self.sent += len(message.events)
                metrics.RELAYED.labels("sent").inc(len(message.events))
        except Exception as exc:  # the database is away: the other nodes miss these events
            log.warning("cluster: %d event(s) not relayed: %r", len(batch), exc)

    def received_message(self, message: envelope.EventMessage) -> None:
        """A batch from the cluster channel: another node's events go to the wide bus."""
        if message.origin == self.node_id:
            return
        for event in message.events:
            self.wide.publish(event)
        self.received += len(message.events)
        metrics.RELAYED.labels("received").inc(len(message.events))
