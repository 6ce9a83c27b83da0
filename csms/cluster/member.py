"""`ClusterMember`: this node's part in the cluster, built and run by the composition root.

It bundles the node lease (csms/cluster/nodes.py), the presence recorder and cache
(presence.py), the listener (messaging.py), the router (`link`, routing.py) and the event relay
(relay.py, `wide_bus`), and dispatches what arrives on the node's channels to them.

Order: `start()` claims the lease and loads presence before the node accepts stations; `run()`
keeps everything going in the central system's TaskGroup; `stop()` gives the lease up after the
stations were closed (the other nodes sweep at once instead of waiting for it to lapse).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Mapping

from csms.cluster import envelope, presence
from csms.cluster.messaging import CLUSTER, Messenger
from csms.cluster.nodes import NodeLease, make_node_id, random_suffix, renew_every
from csms.cluster.relay import EventRelay, to_site_leader
from csms.cluster.routing import ClusterLink, HeldHere
from csms.events import EventBus
from csms.logs import JsonFormatter
from csms.ocpp.registry import StationRegistry
from csms.settings import Settings
from csms.storage.database import Database
from csms.storage.postgres import PostgresDatabase

log = logging.getLogger(__name__)


class ClusterMember:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        registry: StationRegistry,
        local_bus: EventBus,
        hostname: Callable[[], str] = socket.gethostname,
    ) -> None:
        if not isinstance(db, PostgresDatabase):
            raise ValueError("setting cluster.enabled: needs a PostgreSQL database_url")
        self.node_id = make_node_id(settings.node_id, hostname(), random_suffix())
        self.lease_s = settings.cluster.node_lease_s
        self.db = db
        self.wide_bus = EventBus()
        self.presence = presence.PresenceCache()
        self.lease = NodeLease(db, self.node_id, self.lease_s, self._swept, self._reclaimed)
        self.messenger = Messenger(db, self.node_id, self._received, self._reload)
        self.link = ClusterLink(
            registry,
            self.presence,
            self.node_id,
            lambda: self.lease.live,
            self.messenger.send,
            settings.response_timeout_s,
        )
        self.held_here = HeldHere(self.link)
        self.recorder = presence.PresenceRecorder(
            db, local_bus, self.node_id, self.lease.incarnation, self._notify_presence
        )
        self.relay = EventRelay(local_bus, self.wide_bus, self.node_id, self.messenger.send)
        self._renewing: asyncio.Task[None] | None = None
        _name_logs(self.node_id)

    def relay_meter_values_to_leaders(
        self, site_of: Mapping[str, str], leading_now: Callable[[str], str | None]
    ) -> None:
        """From now on MeterValues go only to the node leading the station's site (`site_of`:
        station id → site id of the sites led in the cluster; `leading_now`: the lease keeper's
        view). Once the lease last listed has run out, the samples go to every node until the
        next round names the leader: a node that takes a dead leader's site gets them from its
        first step on."""
        self.relay.destination = to_site_leader(self.node_id, site_of.get, leading_now)

    def readiness(self) -> list[str]:
        """For /readyz: the lease is held and the listener is connected."""
        problems = self.lease.readiness()
        if not self.messenger.listening.is_set():
            problems.append("cluster: not listening for other nodes' messages")
        return problems

    async def start(self) -> None:
        """Claim the lease and renew it from now on (the rest of start-up may take longer
        than the lease on a loaded machine)."""
        await self.lease.claim()
        self._renewing = asyncio.create_task(self.lease.run(), name="cluster-lease")
        await self._reload()
        log.info("cluster: node %s joined (%d live)", self.node_id, len(self.lease.live))

    async def run(self) -> None:
        assert self._renewing is not None, "start() first"
        async with asyncio.TaskGroup() as group:
            group.create_task(self._keep_renewing(self._renewing), name="cluster-lease")
            group.create_task(self.messenger.run(), name="cluster-listener")
            group.create_task(self.recorder.run(), name="cluster-presence")
            group.create_task(self.relay.run(), name="cluster-relay")
            group.create_task(self._reload_loop(), name="cluster-reload")

    @staticmethod
    async def _keep_renewing(renewing: asyncio.Task[None]) -> None:
        try:
            await renewing
        finally:
            renewing.cancel()

    async def stop(self) -> None:
        """After the stations were closed: give the lease up (best effort)."""
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        await self.link.close()
        try:
            await self.lease.release()
        except Exception as exc:  # the database is away: the lease lapses by itself
            log.warning("cluster: lease not released: %r", exc)

    # -- what arrives -------------------------------------------------------------------------
    def _received(self, message: envelope.Message) -> None:
        match message:
            case envelope.CallRequest():
                self.link.requested(message)
            case envelope.Ack():
                self.link.acknowledged(message)
            case envelope.CallAnswer():
                self.link.answered(message)
            case envelope.EventMessage():
                self.relay.received_message(message)
            case envelope.PresenceMessage():
                if message.node_id is None:
                    self.presence.released(message.station_id, message.version)
                else:
                    self.presence.held_by(
                        message.station_id, message.node_id, message.since, message.version
                    )
            case envelope.Ref():
                pass  # resolved by the messenger

    async def _notify_presence(
        self, station_id: str, node_id: str | None, since: float, version: int
    ) -> None:
        message = envelope.PresenceMessage(station_id, node_id, since, version)
        self._received(message)  # this node's cache first: no wait for the round trip
        await self.messenger.send(CLUSTER, message)

    async def _swept(self, gone: list[tuple[str, int, str]]) -> None:
        for station_id, version, _node in gone:
            await self._notify_presence(station_id, None, 0.0, version)

    async def _reclaimed(self) -> None:
        await self.recorder.announce_all()

    async def _reload(self) -> None:
        self.presence.replace(*await presence.load(self.db))

    async def _reload_loop(self) -> None:
        """Presence as a whole now and then: corrects whatever a missed NOTIFY left wrong."""
        while True:
            await asyncio.sleep(renew_every(self.lease_s))
            try:
                await self.recorder.retry()
                await self._reload()
            except Exception as exc:  # the database is away: keep the last view
                log.warning("cluster: presence not reloaded: %r", exc)


def _name_logs(node_id: str) -> None:
    """JSON log lines name the cluster node id (the host name alone is not unique)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonFormatter):
            handler.formatter.node_id = node_id
