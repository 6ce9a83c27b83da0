"""The central system: storage, the OCPP server, the HTTP API and the long-running services.

`CentralSystem` is the composition root: it builds the parts and hands each service exactly the
narrow interfaces it uses (a `StationLink`, the `Store`, the `EventBus`, a clock) and the API an
`ApiContext`. Nothing but the process entry points (csms/cli/serve.py, the demo, tests) imports
this module.

One `asyncio.TaskGroup` owns every long-running task; shutdown stops accepting stations, closes
their sessions, stops the API and services, and drains queued writes before the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn

from csms.alerts import metrics as alert_metrics
from csms.alerts.rules import Alert
from csms.alerts.service import AlertService
from csms.api.app import create_app
from csms.api.deps import ApiContext
from csms.charging.service import ChargingService, Leadership
from csms.cluster.fencing import SiteLeadership
from csms.cluster.handover import hand_over
from csms.cluster.leases import LeaseKeeper
from csms.cluster.singleton import reports, runs_once
from csms.config.service import ConfigService
from csms.eventlog.log import EventRecorder
from csms.events import EventBus
from csms.logs import default_node_id
from csms.looplag import LoopLag
from csms.modbus.sites import site_writers
from csms.ocpp.link import StationControl, StationLink
from csms.ocpp.registry import StationRegistry
from csms.ocpp.server import OcppServer
from csms.operations.repository import OperationsRepository
from csms.operations.service import OperationsService
from csms.settings import Settings
from csms.storage import Database, Store, open_database
from csms.tags.repository import TagRepository
from csms.tags.service import TagService
from csms.web import Console

if TYPE_CHECKING:
    from csms.cluster.member import ClusterMember

log = logging.getLogger(__name__)


class Service(Protocol):
    """A long-running part of the system, started in the main TaskGroup."""

    async def run(self) -> None: ...


class _ApiServer(uvicorn.Server):
    """Uvicorn on our event loop; signals are handled by the central system, not by uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


class CentralSystem:
    """Wires the parts together; `run()` serves until `request_shutdown()`."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.db: Database = open_database(settings.database_url)
        self.store = Store.on(self.db)
        self.bus = EventBus()
        self.registry = StationRegistry()
        self.ocpp = OcppServer(settings, self.store, self.registry, self.bus, clock)
        # What services and the API call stations through, and the bus of cluster-wide events:
        # the registry and the local bus, or the cluster's router and wide bus.
        self.cluster = self._join_cluster()
        self.link: StationControl = self.registry if self.cluster is None else self.cluster.link
        held_here: StationLink = self.registry if self.cluster is None else self.cluster.held_here
        wide_bus = self.bus if self.cluster is None else self.cluster.wide_bus
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._api: _ApiServer | None = None
        self._api_socket: socket.socket | None = None
        self._api_address: tuple[str, int] | None = None
        # -- cluster: site leaders, fencing, work that runs once ------------------------------
        # One leader per site through the site-lease table (held under the cluster node id,
        # unique per process; sites spread over the node leases' live nodes); its loop sends
        # fenced limits. Alert transitions and pruning run on the singleton lease's holder.
        self.leases: LeaseKeeper | None = None
        leadership: Leadership | None = None
        self.runs_once: Callable[[], bool] = lambda: True
        self.reports: Callable[[Alert], bool] = lambda alert: True
        if self.cluster is not None:
            member = self.cluster
            led = [site.id for site in settings.sites] if settings.charging.enabled else []

            async def live_nodes() -> int:
                return len(member.lease.live)

            self.leases = LeaseKeeper(
                self.db,
                member.node_id,
                led,
                takeover_s=settings.cluster.site_takeover_s,
                live_nodes=live_nodes,
            )
            leadership = SiteLeadership(self.leases)
            # MeterValues only to the node whose loop reads them (the site's leader).
            member.relay_meter_values_to_leaders(
                {s.id: site.id for site in settings.sites if site.id in led for s in site.stations},
                self.leases.leading_now,
            )
            self.runs_once = runs_once(self.leases)
            self.reports = reports(self.leases)
        # The long-running services, each handed exactly what it uses; `run()` starts them.
        # Smart charging: one control loop per site.
        self.charging = ChargingService(
            settings.charging,
            settings.sites,
            link=self.link,
            records=self.store,
            bus=wide_bus,
            clock=clock,
            writers=site_writers(settings.sites, settings.charging, clock),
            leadership=leadership,  # None: every site runs here
        )
        # Snapshots, changes, licences, SCN set-up.
        # How late the event loop runs: paces work that can wait (csms/looplag.py).
        self.loop_lag = LoopLag()
        self.config = ConfigService(held_here, self.store, self.bus, clock, lag=self.loop_lag.now)
        self.ocpp.handlers.heartbeat_interval = self.config.heartbeat_interval
        # Operator commands, reservations, firmware and diagnostics.
        self.operations = OperationsService(
            self.link,
            OperationsRepository(self.db),
            self.store.events,
            self._snapshot_values,
            clock,
            files_base_url=settings.files_base_url,
            loop=self.charging,
        )
        # Id tags: Authorize's answer and the stations' local lists.
        self.tags = TagService(
            TagRepository(self.db),
            self.link,
            self.bus,
            clock,
            accept_unknown=settings.authorization == "accept-all",
        )
        self.ocpp.handlers.id_tag_info = self.tags.id_tag_info
        # The event log's connects/boots and its pruning; alerts and their webhook.
        self.event_log = EventRecorder(
            self.db, self.bus, clock, settings.event_retention_days, runs_once=self.runs_once
        )
        self.alerts = AlertService(
            settings.alerts,
            self.store,
            clock,
            site_of=lambda sid: None if (s := settings.site_of(sid)) is None else s.id,
            safe_mode_sites=self._safe_mode_sites,
            online=self.link.is_online,
            failed_firmware=self.operations.failed_firmware_updates,
            reports=self.reports,  # in a cluster each transition is posted by one node
        )
        self.charging.add_result_hook(alert_metrics.on_charging_result)
        self.services: list[Service] = [
            self.loop_lag,
            self.charging,
            self.config,
            self.tags,
            self.event_log,
            self.alerts,
        ]
        if self.leases is not None:  # site leases renewed in the main TaskGroup
            self.leases.before_release = self.charging.wait_site_stopped
            self.services.append(self.leases)
        # Short tasks started by API requests (kept referenced until done).
        self.background: set[asyncio.Task[Any]] = set()

    # -- cluster (csms/cluster, docs/cluster.md): everything it adds, in one place --------------
    def _join_cluster(self) -> ClusterMember | None:
        """With `cluster.enabled`: this node's lease, presence, router and event relay. The OCPP
        server keeps the local registry and bus; services and the API get the router."""
        if not self.settings.cluster.enabled:
            return None
        from csms.cluster.member import ClusterMember

        return ClusterMember(self.settings, self.db, self.registry, self.bus)

    @property
    def node_id(self) -> str:
        """This node's name: the cluster's node id, else the `node_id` setting or host name."""
        if self.cluster is not None:
            return self.cluster.node_id
        return self.settings.node_id or default_node_id()

    # -- helpers ------------------------------------------------------------------------------
    def _safe_mode_sites(self) -> dict[str, float]:
        """Sites whose latest allocation ran in safe mode (meter lost or implausible)."""
        now = self.clock()
        return {
            site_id: now
            for site_id, loop in self.charging.sites.items()
            if loop.last is not None and loop.last.allocation.safe_mode
        }

    async def _snapshot_values(self, station_id: str) -> dict[str, str | None]:
        """The latest configuration snapshot's keys (what operations validate profiles with)."""
        snapshot = await self.config.store.latest_snapshot(station_id)
        return snapshot.values if snapshot is not None else {}

    # -- addresses ----------------------------------------------------------------------------
    @property
    def ocpp_url(self) -> str:
        """Where stations connect (append `/{stationId}`); loopback for a wildcard host."""
        from csms.net import LOOPBACK, WILDCARDS, url_host

        host = self.settings.ocpp_host
        host = LOOPBACK if host in WILDCARDS else host
        scheme = "wss" if self.settings.tls_cert else "ws"
        return f"{scheme}://{url_host(host)}:{self.ocpp.port}{self.settings.ocpp_path_prefix}"

    @property
    def api_url(self) -> str:
        """The API's address (still known after shutdown, which closes the socket)."""
        assert self._api_address is not None, "API not started"
        host, port = self._api_address
        return f"http://{host}:{port}"

    def station_urls(self) -> list[str]:
        """Every URL a station can connect to (append `/{stationId}`): on a wildcard host the
        machine's interface addresses, then 127.0.0.1 (this machine only)."""
        from csms.net import interface_addresses, reachable_hosts, url_host

        scheme = "wss" if self.settings.tls_cert else "ws"
        hosts = reachable_hosts(self.settings.ocpp_host, interface_addresses())
        path = self.settings.ocpp_path_prefix
        return [f"{scheme}://{url_host(h)}:{self.ocpp.port}{path}" for h in hosts]

    def api_urls(self) -> list[str]:
        """Every URL the API answers on, the same way as `station_urls`."""
        from csms.net import interface_addresses, reachable_hosts, url_host

        assert self._api_socket is not None
        port = self._api_socket.getsockname()[1]
        hosts = reachable_hosts(self.settings.api_host, interface_addresses())
        return [f"http://{url_host(h)}:{port}" for h in hosts]

    # -- lifecycle ----------------------------------------------------------------------------
    async def _wait_api_started(self, api_task: asyncio.Task[None]) -> None:
        # uvicorn offers no event for "started"; poll its flag briefly.
        for _ in range(1000):
            if self._api is None or self._api.started or api_task.done():
                return
            await asyncio.sleep(0.01)

    def request_shutdown(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Start everything, serve until shutdown is requested, then stop in order."""
        await self.db.open()
        try:
            await self.store.stations.mark_all_offline()
            if self.cluster is not None:
                await self.cluster.start()  # the lease, before any station connects here
            context = ApiContext(
                records=self.store,
                stations=self.link,
                bus=self.bus,
                clock=self.clock,
                charging=self.charging,
                config=self.config,
                operations=self.operations,
                api_token=self.settings.api_token,
                background=self.background,
                tags=self.tags,
                alerts=self.alerts,
                node_id=self.node_id,
                readiness=None if self.cluster is None else self.cluster.readiness,
            )
            app = create_app(context)
            console = Console(context)  # the web console at /console, on the API's port
            console.mount(app)
            config = uvicorn.Config(
                app, log_level="warning", lifespan="off", access_log=False, loop="none"
            )
            self._api = _ApiServer(config)
            self._api_socket = socket.create_server(
                (self.settings.api_host, self.settings.api_port), reuse_port=False
            )
            # Accepted sockets inherit it; without it every API answer waited ~40 ms (Nagle's
            # algorithm against the client's delayed ACK).
            self._api_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._api_address = self._api_socket.getsockname()[:2]
            await self.ocpp.start()
            async with asyncio.TaskGroup() as group:
                api_task = group.create_task(self._api.serve(sockets=[self._api_socket]))
                runs = [*self.services, console, *([self.cluster] if self.cluster else [])]
                service_tasks = [group.create_task(s.run()) for s in runs]
                await self._wait_api_started(api_task)
                self.ready.set()
                await self._stop.wait()
                # A cluster node hands its sites over before its stations go (1012).
                if self.leases is not None:
                    log.info("shutting down: handing over the sites")
                    await hand_over(self.leases)
                log.info("shutting down: closing station sessions")
                await self.ocpp.stop()
                self._api.should_exit = True
                for task in service_tasks:
                    task.cancel()
        finally:
            await self.ocpp.stop()
            if self.cluster is not None:
                await self.cluster.stop()
            await self.store.stations.heartbeats_written()
            await self.db.close()
            if self._api_socket is not None:
                self._api_socket.close()
            log.info("central system stopped")


@contextlib.asynccontextmanager
async def running_central_system(
    settings: Settings, clock: Callable[[], float] = time.time
) -> AsyncIterator[CentralSystem]:
    """Run a central system in this event loop for the duration of the block (tests, demo)."""
    cs = CentralSystem(settings, clock)
    task = asyncio.create_task(cs.run(), name="central-system")
    ready = asyncio.create_task(cs.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    try:
        yield cs
    finally:
        cs.request_shutdown()
        await task
