"""Smart charging as a service of the central system: one control loop per configured site.

`ChargingService.run()` runs in the central system's TaskGroup. It restores what earlier runs
stored (operator caps, proven methods, running transactions, connector states, the stations'
latest configuration snapshots), routes station events (and `SnapshotTaken` from configuration
management) to the loop of the site the station belongs to, and starts every `SiteLoop`.

In a cluster (`leadership` given) a site's loop — and with it its meter poller, the one meter
connection — runs only while this node leads the site: on taking the site a fresh loop is built
with fenced sending (every limit checks the lease's epoch first) and restored from the stored
state; on losing it the loop stops. Without `leadership` every site runs, as always.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from balancing import allocate
from csms import events
from csms.charging.interfaces import CapError, LedElsewhere, SiteLeader
from csms.charging.loop import SiteLoop
from csms.charging.plan_repository import PlanRepository
from csms.charging.planner import Command
from csms.charging.readmodel import SiteRead
from csms.charging.repository import SCOPES, ChargingRepository, caps_for_site
from csms.charging.sessions import (
    PlanError,
    SessionPlan,
    SessionView,
    TagDefaults,
    session_views,
)
from csms.charging.writer import LimitWriter
from csms.config.repository import ConfigRepository
from csms.events import EventBus
from csms.ocpp.link import StationLink
from csms.settings import ChargingSettings
from csms.storage import Store
from csms.storage.records import ConnectorRecord

if TYPE_CHECKING:
    from csms.settings import SiteSettings

log = logging.getLogger(__name__)

# The largest connector id a cap may name (OCPP's integer as stations and databases store it).
MAX_CONNECTOR_ID = 2**31 - 1

# Called after every answer of a station: (site id, command, status, time).
ResultHook = Callable[[str, Command, str, float], None]
Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]

# How often a leading node reloads operator caps, session plans and idTag defaults (set
# through another node's API).
REFRESH_S = 5.0


class Fencing(Protocol):
    """Wraps a loop's sending so nothing goes out once this node no longer leads the site."""

    def call(self, inner: Call) -> Call: ...

    def writer(self, inner: LimitWriter) -> LimitWriter: ...


class Leader(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def epoch(self) -> int: ...


class Leadership(Protocol):
    """Which sites this node leads (csms.cluster.fencing.SiteLeadership)."""

    node_id: str

    def epoch(self, site_id: str) -> int | None:
        """The epoch in which this node leads the site now, or None."""
        ...

    async def wait_change(self) -> None:
        """Return when what this node leads changes."""
        ...

    def leader(self, site_id: str) -> Leader | None:
        """Who leads the site (as last seen), or None."""
        ...

    def fence(self, site_id: str, epoch: int) -> Fencing:
        """The wrappers of a loop built for `epoch`."""
        ...


class ChargingService:
    """Owns the site loops; the edges read their state and set caps through `ChargingControl`."""

    def __init__(
        self,
        settings: ChargingSettings,
        sites: Sequence[SiteSettings],
        *,
        link: StationLink,
        records: Store,
        bus: EventBus,
        clock: Callable[[], float],
        writers: Mapping[str, LimitWriter] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        """`link` reaches the stations, `records` holds the stations' and transactions' rows
        (and the database of the caps, methods and snapshots), `bus` brings station events,
        `writers` (by site id) deliver the limits of stations controlled through another path
        (their Modbus slave), `leadership` (a cluster) says which sites this node runs."""
        self.records = records
        self.settings = settings
        self.link = link
        self.writers = dict(writers or {})
        self.leadership = leadership
        self._site_settings = {site.id: site for site in sites}
        self._running: dict[str, asyncio.Task[None]] = {}  # cluster: the loops running here
        self.clock = clock
        self.store = ChargingRepository(records.db)
        self.plan_store = PlanRepository(records.db)
        self.sites: dict[str, SiteLoop] = {}
        self._site_of: dict[str, str] = {}
        self._result_hooks: list[ResultHook] = []
        self._events: asyncio.Queue[events.Event] | None = None
        # One idTag's defaults (and the phases learnt) are the same on every site.
        self._defaults: dict[str, TagDefaults] = {}
        if not settings.enabled or not sites:
            return
        # Subscribe now, before stations can connect, so no event is missed.
        self._events = bus.subscribe()
        for site in sites:
            # In a cluster these stay idle (their state is restored for readers) until this
            # node leads the site; the loop that runs is built then, fenced.
            self.sites[site.id] = self._build_loop(site, link.call, self.writers.get(site.id))
            for station in site.stations:
                self._site_of[station.id] = site.id

    def _build_loop(self, site: SiteSettings, call: Call, writer: LimitWriter | None) -> SiteLoop:
        loop = SiteLoop(
            site,
            self.settings,
            call=call,
            online=self.link.is_online,
            clock=self.clock,
            allocate=allocate,
            on_method=self._store_method,
            on_result=self._on_result,
            writer=writer,
        )
        loop.plans.defaults = self._defaults
        return loop

    def site_of(self, station_id: str) -> SiteLoop | None:
        """The loop of the site a station belongs to."""
        site_id = self._site_of.get(station_id)
        return None if site_id is None else self.sites[site_id]

    # -- what the edges read (csms.charging.interfaces.ChargingControl) --------------------
    def site_ids(self) -> list[str]:
        """The configured sites (empty: smart charging is off)."""
        return list(self.sites)

    def site_id_of(self, station_id: str) -> str | None:
        """The site a station belongs to, or None."""
        return self._site_of.get(station_id)

    def station_ids_of(self, site_id: str) -> list[str] | None:
        """The stations of a site, as configured (None for an unknown site)."""
        loop = self.sites.get(site_id)
        return None if loop is None else list(loop.model.station_ids)

    def read_site(self, site_id: str, now: float) -> SiteRead | None:
        """The site's read model at `now` (None for an unknown site)."""
        loop = self.sites.get(site_id)
        return None if loop is None else loop.read_model(now)

    def site_leader(self, site_id: str) -> SiteLeader | None:
        """Which node leads the site and in which epoch (None: no cluster, or no leader)."""
        if self.leadership is None or site_id not in self.sites:
            return None
        row = self.leadership.leader(site_id)
        if row is None:
            return None
        here = row.node_id == self.leadership.node_id
        task = self._running.get(site_id)
        return SiteLeader(row.node_id, row.epoch, here, here and task is not None)

    def running_sites(self) -> list[str]:
        """The sites whose loop runs in this process."""
        if self.leadership is None:
            return list(self.sites) if self._events is not None else []
        return sorted(s for s, t in self._running.items() if not t.done())

    async def wait_site_stopped(self, site_id: str) -> None:
        """Until the site's loop no longer runs here (a lease is given up only after this)."""
        task = self._running.get(site_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    def add_result_hook(self, hook: ResultHook) -> None:
        """Call `hook(site_id, command, status, at)` after every answer (benchmarks, demo)."""
        self._result_hooks.append(hook)

    async def run(self) -> None:
        """Restore state, then balance every site until cancelled."""
        if self._events is None:
            return
        await self._restore(self.sites)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._route(self._events), name="charging-events")
            for site_id, loop in self.sites.items():
                if self.leadership is None:
                    group.create_task(loop.run(), name=f"site-{site_id}")
                else:
                    group.create_task(self._lead(site_id, self.leadership), name=f"lead-{site_id}")

    async def _lead(self, site_id: str, leadership: Leadership) -> None:
        """Run the site's loop in every term this node leads it (cluster)."""
        while True:
            epoch = leadership.epoch(site_id)
            if epoch is None:
                await leadership.wait_change()
                continue
            fence = leadership.fence(site_id, epoch)
            writer = self.writers.get(site_id)
            site = self._site_settings[site_id]
            loop = self._build_loop(
                site, fence.call(self.link.call), None if writer is None else fence.writer(writer)
            )
            loop.set_mode(self.sites[site_id].site.mode)  # a mode switched while idle stays
            self.sites[site_id] = loop  # events route to it from now; the restore adds the rest
            log.info("site %s: leading in epoch %d; restoring and starting its loop", site_id,
                     epoch)  # fmt: skip
            try:
                await self._restore({site_id: loop})
                await self._adopt_connected(loop)
            except Exception:
                log.exception("site %s: restoring the stored state failed (retried)", site_id)
                await asyncio.sleep(1.0)
                continue
            task = asyncio.get_running_loop().create_task(loop.run(), name=f"site-{site_id}")
            self._running[site_id] = task
            try:
                while leadership.epoch(site_id) == epoch and not task.done():
                    change = asyncio.ensure_future(leadership.wait_change())
                    await asyncio.wait({change, task}, timeout=REFRESH_S)
                    change.cancel()
                    await self._refresh(site_id, loop)
            finally:
                task.cancel()
                await asyncio.wait([task])
                if self._running.get(site_id) is task:
                    del self._running[site_id]
                log.info("site %s: loop of epoch %d stopped", site_id, epoch)
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                raise failure

    async def _adopt_connected(self, loop: SiteLoop) -> None:
        """A loop built on take-over finds its stations connected already (to any node): one
        whose latest stored snapshot was read after its last boot is ready at once, as if the
        snapshot had just been taken (its capabilities change only with a boot); the fresh
        planner sends every profile again. The others wait for their next snapshot."""
        snapshots = await ConfigRepository(self.records.db).latest_snapshots()
        for station_id in loop.model.station_ids:
            snapshot = snapshots.get(station_id)
            if snapshot is None or not self.link.is_online(station_id):
                continue
            record = await self.records.stations.get(station_id)
            read_at = max(snapshot.taken_at, snapshot.checked_at)
            if record is None or read_at < (record.boot_at or 0.0):
                continue
            loop.on_event(
                events.SnapshotTaken(station_id, read_at, snapshot.id, "take-over", snapshot.values)
            )

    async def _refresh(self, site_id: str, loop: SiteLoop) -> None:
        """What other nodes' APIs stored reaches the leader within `REFRESH_S`: operator caps,
        session plans and idTag defaults."""
        try:
            caps = caps_for_site(await self.store.caps(), site_id, set(loop.model.station_ids))
            ids = [run.transaction_id for run in loop.plans.running.values()]
            plans = await self.plan_store.session_plans(ids)
            defaults = await self.plan_store.defaults()
        except Exception as exc:  # the database away: keep what we have
            log.debug("site %s: caps and plans not refreshed: %s", site_id, exc)
            return
        if caps != loop.caps:
            loop.set_caps(caps)
        known = {run.transaction_id: run.plan for run in loop.plans.running.values()}
        fresh = {d.id_tag: d for d in defaults}
        if any(known.get(t) != p for t, p in plans.items()) or any(
            self._defaults.get(tag) != d for tag, d in fresh.items()
        ):
            loop.plans.load(defaults, plans)
            loop.wake()

    async def _restore(self, loops: Mapping[str, SiteLoop]) -> None:
        caps = await self.store.caps()
        methods = await self.store.methods()
        defaults = await self.plan_store.defaults()
        running = await self.records.transactions.running()
        # Local limits and socket counts known from earlier snapshots; a station still gets no
        # profile before its capabilities are read again in its current connection.
        snapshots = await ConfigRepository(self.records.db).latest_snapshots()
        for site_id, loop in loops.items():
            stations = set(loop.model.station_ids)
            loop.set_caps(caps_for_site(caps, site_id, stations))
            loop.set_methods(methods)
            connectors: list[ConnectorRecord] = []
            for station_id in stations:
                connectors.extend(await self.records.stations.connectors(station_id))
            loop.load_running(running, connectors)
            for t in running:  # after load_running: the plans see the transactions as events do
                if t.station_id in stations:
                    loop.plans.on_event(
                        events.TransactionStarted(
                            t.station_id, t.connector_id, t.id, t.id_tag, t.meter_start,
                            t.started_at,
                        ),
                        loop.state,
                    )  # fmt: skip
            plans = await self.plan_store.session_plans([t.id for t in running])
            loop.plans.load(defaults, plans)
            for station_id in stations & snapshots.keys():
                loop.apply_snapshot(station_id, snapshots[station_id].values)

    async def _route(self, queue: asyncio.Queue[events.Event]) -> None:
        while True:
            event = await queue.get()
            loop = self.site_of(event.station_id)
            if loop is not None:
                loop.on_event(event)
                await self._store_learnt(loop)

    async def _store_learnt(self, loop: SiteLoop) -> None:
        """Phase counts measured in sessions that ended, remembered per idTag (item 8)."""
        while loop.plans.learnt:
            id_tag, phases = loop.plans.learnt.pop(0)
            try:
                await self.plan_store.learn_phases(id_tag, phases, self.clock())
            except Exception:
                log.exception("storing the phases of idTag %s failed", id_tag)

    async def _store_method(self, station_id: str, method: str) -> None:
        await self.store.set_method(station_id, method, self.clock())

    def _on_result(self, command: Command, status: str, at: float) -> None:
        site_id = self._site_of.get(command.station_id, "")
        for hook in self._result_hooks:
            hook(site_id, command, status, at)

    # -- operator caps -----------------------------------------------------------------------
    def set_mode(self, site_id: str, mode: str) -> bool:
        """Switch a site between "balanced" and "pv-surplus" now; False for an unknown site."""
        loop = self.sites.get(site_id)
        if loop is None:
            return False
        if self.leadership is not None:
            leader = self.site_leader(site_id)
            if leader is None or not leader.running:
                raise LedElsewhere(site_id, None if leader is None else leader.node_id)
        log.info("site %s: mode %s (set by the operator)", site_id, mode)
        loop.set_mode(mode)
        return True

    async def set_cap(
        self, scope: str, target_id: str, connector_id: int, limit_a: float | None
    ) -> None:
        """Set or (None) remove an operator cap and apply it at once; raises CapError."""
        if scope not in SCOPES:
            raise CapError(f"cap scope must be one of {', '.join(SCOPES)}")
        if limit_a is not None and not 0 <= limit_a <= 10000:
            raise CapError("a cap must be between 0 and 10000 A")
        if scope == "site" and target_id not in self.sites:
            raise CapError(f"site {target_id} is not configured")
        if scope in ("station", "connector") and target_id not in self._site_of:
            raise CapError(f"station {target_id} belongs to no configured site")
        if scope == "connector" and not 1 <= connector_id <= MAX_CONNECTOR_ID:
            raise CapError(f"a connector cap needs a connector id from 1 to {MAX_CONNECTOR_ID}")
        await self.store.set_cap(
            scope, target_id, connector_id if scope == "connector" else 0, limit_a, self.clock()
        )
        caps = await self.store.caps()
        for site_id, loop in self.sites.items():
            loop.set_caps(caps_for_site(caps, site_id, set(loop.model.station_ids)))

    # -- departures, energy needs and phases (issue 11, items 8 and 9) ----------------------
    async def set_session_plan(self, station_id: str, connector_id: int, plan: SessionPlan) -> int:
        """Set what is known of the session on a connector (replacing what was said before);
        returns its transaction id. PlanError when no transaction runs there."""
        loop = self.site_of(station_id)
        if loop is None:
            raise PlanError(f"station {station_id} belongs to no configured site")
        running = loop.plans.running.get((station_id, connector_id))
        if running is None:
            raise PlanError(f"no transaction runs on {station_id}/{connector_id}")
        await self.plan_store.set_session_plan(
            running.transaction_id, station_id, connector_id, plan, self.clock()
        )
        loop.plans.set_plan((station_id, connector_id), plan)
        if loop.last is not None:  # the loop runs: balance now, so a read shows the forecast
            loop.step()
        loop.wake()
        return running.transaction_id

    def session_views(
        self, site_id: str, keys: Sequence[tuple[str, int]] | None = None
    ) -> list[SessionView] | None:
        """The running sessions of a site (or those on `keys`) with their plans and forecasts
        from the last control step; None for an unknown site."""
        loop = self.sites.get(site_id)
        if loop is None:
            return None
        last = loop.last
        forecasts = {} if last is None else last.forecasts
        limits = {} if last is None else {k: v.value_a for k, v in last.limits.items()}
        return session_views(loop.plans, forecasts, limits, None if keys is None else list(keys))

    def tag_defaults(self, id_tag: str) -> TagDefaults | None:
        return self._defaults.get(id_tag)

    async def set_tag_defaults(self, defaults: TagDefaults) -> TagDefaults:
        """Store an idTag's defaults (keeping the phases learnt) and apply them at once."""
        known = self.tag_defaults(defaults.id_tag)
        learnt = None if known is None else known.learned_phases
        d = TagDefaults(
            defaults.id_tag,
            defaults.departure,
            defaults.timezone,
            defaults.energy_kwh,
            defaults.phases,
            learnt,
            self.clock(),
        )
        await self.plan_store.set_defaults(d)
        self._defaults[d.id_tag] = d
        for loop in self.sites.values():
            loop.wake()
        return d
