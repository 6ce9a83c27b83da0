# Over 450 lines because SiteLoop is one state machine: meter, balancing, delivery, plans share it.
"""The control loop of one site: meter reading or station event → balancing → limits → dispatch.

One `SiteLoop.run()` per site runs in the central system's TaskGroup. Inside its own task group it
runs the site's meter poller, the dispatcher, and the control task. The control task wakes on every
meter reading and every station event of the site (and at least every `control_interval_s`, so a
silent meter turns into safe mode), runs the balancing core over the site tree (which holds the
stations' local limits and the operator caps as nodes), and hands each charging connector's limit
and its binding `LimitSource` to the dispatcher's planner.

Nothing goes to a station before it is ready: a station's capabilities (rate unit, stack level,
periods, connectors) must come from a configuration snapshot taken in its current connection
(configuration management publishes `SnapshotTaken` after each read, and reads every station
after its boot or connect), and then `PROFILE_PAUSE_S` must pass, so the post-boot work is paced:
BootNotification answer, a pause, the snapshot, a pause, the profiles one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from balancing import Allocation, BalancerState, GridReading
from balancing.departures import DepartureForecast
from csms import events
from csms.charging.dispatcher import Call, Dispatcher
from csms.charging.limits import ConnectorLimit, OperatorCaps, local_limits_from_config
from csms.charging.model import SiteModel
from csms.charging.planner import Command, DeliveryPlanner, PlannerSettings, Target
from csms.charging.plausibility import MeterCheck, check_meter, floor_reading
from csms.charging.profiles import TX_DEFAULT_PROFILE, TX_PROFILE, capabilities_from_config
from csms.charging.readmodel import LoopParts, SiteRead, build_read_model
from csms.charging.resume import hold_resumed, resumed_sessions
from csms.charging.sessions import SessionPlans
from csms.charging.writer import LimitWriter
from csms.config.modbus_ready import blocking_reason
from csms.logs import site_id_var
from csms.meter import metrics
from csms.meter.poller import MeterPoller
from csms.meter.reading import MeterReading
from csms.settings import ChargingSettings, SiteSettings
from csms.storage.records import ConnectorRecord, TransactionRecord

log = logging.getLogger(__name__)

# Between a station's snapshot and its first profile (pacing: strict stations drop the link
# under a burst of calls right after boot).
PROFILE_PAUSE_S = 1.0
# For this long after a phase switch is shown in force, a MeterValues sample stamped before it
# is late (see `_taken_before_switch`); after that a station clock behind ours costs nothing.
LATE_SAMPLE_S = 10.0

Allocate = Callable[..., Allocation]


@dataclass(frozen=True, slots=True)
class Step:
    """The last control step: what the balancer said and what each connector was given."""

    at: float
    reading: GridReading | None
    allocation: Allocation
    limits: Mapping[tuple[str, int], ConnectorLimit]
    meter_check: MeterCheck
    forecasts: Mapping[tuple[str, int], DepartureForecast] = field(default_factory=dict)
    """Per session with a departure and an energy need: does its limit get it there?"""


class SiteLoop:
    """Balances one site. Feed it events with `on_event`; readings arrive from its poller."""

    def __init__(
        self,
        site: SiteSettings,
        charging: ChargingSettings,
        *,
        call: Call,
        online: Callable[[str], bool],
        clock: Callable[[], float],
        allocate: Allocate,
        on_method: Callable[[str, str], Awaitable[None]] | None = None,
        on_result: Callable[[Command, str, float], None] | None = None,
        writer: LimitWriter | None = None,
    ) -> None:
        self.site = site
        # Stations controlled through another path (their Modbus slave) get their limits there.
        self.writer = writer
        self.charging = charging
        self.clock = clock
        self.model = SiteModel(site)
        self.plans = SessionPlans()  # departures, energy needs, phase hints (sessions.py)
        self.allocate = allocate
        self.online = online
        self.on_method = on_method
        self.caps = OperatorCaps()
        self.state = BalancerState()
        self.reading: MeterReading | None = None
        self.meter_check = MeterCheck()
        if self.checks_meter:
            metrics.record_plausibility(site.id, alarm=False, raised=False)  # 0 from the start
        self.last: Step | None = None
        self.steps = 0
        self.planner = DeliveryPlanner(
            PlannerSettings(
                deadband_a=charging.deadband_a,
                validity_s=charging.profile_validity_s,
                renew_before_s=charging.renew_margin_s,
                backoff_s=charging.retry_backoff_s,
                backoff_max_s=charging.retry_backoff_max_s,
                min_rewrite_s=charging.min_rewrite_interval_s,
                verify_tolerance_a=charging.verify_tolerance_a,
                max_resends=charging.verify_max_resends,
                offered_grace_s=charging.offered_grace_s,
            )
        )
        self._methods: dict[str, str | None] = {}
        self._external_result = on_result
        self.dispatcher = Dispatcher(
            self.planner,
            call,
            self.can_send,
            clock,
            tick_s=min(0.5, charging.control_interval_s),
            on_result=self._on_result,
        )
        self.poller = MeterPoller(
            site.meter,
            self.on_reading,
            clock,
            site_id=site.id,
            meter_timeout_s=site.meter_timeout_s,
            lost_after_s=site.meter_lost_s,
        )
        self._wake = asyncio.Event()
        self._proven: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        # Stations whose capabilities were read in this connection → from when to send profiles.
        self._ready: dict[str, float] = {}
        # Safe defaults before the first step (every station counted as a double until known),
        # so a station online at once never gets the planner's placeholder.
        for station_id, shares in self.model.safe_defaults().items():
            self.planner.set_safe_shares(station_id, shares)
        self._on_writer: set[str] = set()  # stations whose limits go through the writer now
        self._background: set[asyncio.Task[None]] = set()
        # A session's EV phases before the writer switched its socket to one phase (restored
        # when it switches back): (session start, phases).
        self._phases_before: dict[tuple[str, int], tuple[float, tuple[int, ...] | None]] = {}
        self._switched_at: dict[tuple[str, int], float] = {}  # the last phase switch in force
        if writer is not None:
            writer.attach(self._on_writer_sample, self._on_writer_proven, self._on_writer_phases)

    # -- inputs ----------------------------------------------------------------------------
    def on_reading(self, reading: MeterReading) -> None:
        """A valid meter reading (from the poller): balance at once."""
        self.reading = reading
        self._wake.set()

    def on_event(self, event: events.Event) -> None:
        """A station event of this site's stations."""
        m = self.model
        self.plans.on_event(event, self.state)
        if isinstance(event, events.ConnectorStatusChanged):
            m.status(
                event.station_id,
                event.connector_id,
                event.status,
                event.vendor_error_code,
                event.info,
            )
        elif isinstance(event, events.TransactionStarted):
            m.started(event.station_id, event.connector_id, event.transaction_id, event.at)
        elif isinstance(event, events.TransactionStopped):
            key = m.stopped(event.transaction_id)
            connector = key[1] if key is not None else event.connector_id
            self.planner.transaction_ended(event.station_id, connector)
        elif isinstance(event, events.MeterSampled):
            if not self._taken_before_switch(event):
                m.sampled(event.station_id, event.connector_id, event.values, self.clock())
            offered = event.values.get(("Current.Offered", None))
            if offered is not None:
                self.planner.note_offered(
                    event.station_id, event.connector_id, offered, self.clock()
                )
            return  # measurements refine the next step; no need to balance on each of them
        elif isinstance(event, events.StationConnected):
            # A new connection: we cannot know which profiles the station kept, send them again
            # once its capabilities are read in this connection.
            self._ready.pop(event.station_id, None)
            self.planner.forget_station(event.station_id)
            self.dispatcher.wake(full=True)
        elif isinstance(event, (events.StationBooted, events.StationDisconnected)):
            # A boot may change what the station accepts (new firmware): read it again first.
            self._ready.pop(event.station_id, None)
        elif isinstance(event, events.SnapshotTaken):
            self.apply_snapshot(event.station_id, event.values)
            if event.station_id not in self._ready:
                self._ready[event.station_id] = self.clock() + PROFILE_PAUSE_S
                log.info("station %s: capabilities read; profiles follow", event.station_id)
            self.dispatcher.wake(full=True)
        self._wake.set()

    def wake(self) -> None:
        """Balance again soon (a plan or default changed)."""
        self._wake.set()

    def can_send(self, station_id: str) -> bool:
        """Whether the dispatcher may send to a station now: online, its capabilities read in
        this connection, and the pause after that read over."""
        if self.writer is not None and self.writer.controls(station_id):
            return False  # no OCPP profiles: its limits go through the writer
        ready_at = self._ready.get(station_id)
        return ready_at is not None and ready_at <= self.clock() and self.online(station_id)

    def is_ready(self, station_id: str) -> bool:
        """Whether the station's capabilities were read in its current connection."""
        return station_id in self._ready

    def read_model(self, now: float) -> SiteRead:
        """What the loop decided and delivered, copied into frozen records for readers."""
        step = self.last
        parts = LoopParts(
            site=self.site,
            model=self.model,
            planner=self.planner,
            allocation=None if step is None else step.allocation,
            limits={} if step is None else step.limits,
            updated_at=None if step is None else step.at,
            meter_health=self.poller.health.snapshot(now),
            checks_meter=self.checks_meter,
            meter_check=self.meter_check,
            caps=self.caps,
            ready=frozenset(self._ready),
            writer=self.writer,
            methods=dict(self._methods),
        )
        return build_read_model(parts, now)

    def set_mode(self, mode: str) -> None:
        """Balanced or PV-surplus charging from the next step (until a restart: the settings
        file gives the mode at start)."""
        self.site = self.site.model_copy(update={"mode": mode})
        self.model.settings = self.site
        self._wake.set()

    def set_caps(self, caps: OperatorCaps) -> None:
        """New operator caps: the station cap also goes out as a ChargePointMaxProfile."""
        self.caps = caps
        self.model.caps = caps  # nodes of the site tree from the next step
        for station_id in self.model.station_ids:
            self.planner.set_station_cap(station_id, caps.station_a.get(station_id))
        self._wake.set()

    def set_methods(self, methods: Mapping[str, str]) -> None:
        """Methods proven in an earlier run (from storage)."""
        for station_id in self.model.station_ids:
            if station_id in methods:
                self.planner.configure_station(station_id, method=methods[station_id])
                self._methods[station_id] = methods[station_id]

    def load_running(
        self, running: Sequence[TransactionRecord], connectors: Sequence[ConnectorRecord]
    ) -> None:
        """Transactions and connector states stored before this loop started."""
        for c in connectors:
            if c.station_id in self.model.station_ids:
                self.model.status(
                    c.station_id, c.connector_id, c.status, c.vendor_error_code, c.info
                )
        for t in running:
            if t.station_id in self.model.station_ids:
                self.model.started(t.station_id, t.connector_id, t.id, t.started_at)

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        """Poll the meter, balance and dispatch until cancelled."""
        site_id_var.set(self.site.id)  # the tasks below inherit it: their logs name the site
        async with asyncio.TaskGroup() as group:
            group.create_task(self.poller.run(), name=f"meter-{self.site.id}")
            group.create_task(self.dispatcher.run(), name=f"dispatch-{self.site.id}")
            group.create_task(self._store_methods(), name=f"methods-{self.site.id}")
            group.create_task(self._control(), name=f"control-{self.site.id}")
            if self.writer is not None:
                group.create_task(self.writer.run(), name=f"writer-{self.site.id}")

    async def _control(self) -> None:
        await self._first_reading()
        while True:
            self._wake.clear()
            try:
                self.step()
            except Exception:
                # Bad input from one station must not end balancing for the whole site; the
                # stations keep their last profiles, which expire to the safe default.
                log.exception("site %s: control step failed", self.site.id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.charging.control_interval_s):
                    await self._wake.wait()

    async def _first_reading(self) -> None:
        """Wait for the meter's first reading, at most `meter_timeout_s` (a stale meter's own
        bound): a loop that starts (a restart, a take-over) does not count its meter lost before
        the first poll could answer. Until then the stations keep what they apply (the profiles
        they have, or the safe default the dispatcher installs); after it, no reading is safe
        mode, as for a meter that went silent."""
        if self.site.meter.type == "none":
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.site.meter_timeout_s):
                while self.reading is None:
                    self._wake.clear()
                    await self._wake.wait()

    def step(self) -> Step:
        """One control step (synchronous and quick: pure code plus bookkeeping)."""
        now = self.clock()
        site = self.model.balancing_site()
        reading = self._grid_reading(now)
        for key, state in self.model.connectors.items():
            if state.transaction_id is not None:
                installed = self.planner.in_effect(key[0], key[1], now)
                if installed is not None:
                    self.model.note_limit(key, installed.accepted_at, installed.limit_a)
                elif (written := self._written_a(key)) is not None:
                    self.model.note_limit(key, now, written)
        sessions = self.model.sessions(site, None if reading is None else reading.at)
        sessions = self.plans.apply(sessions)
        balanced = reading
        if reading is not None and self.checks_meter:
            ev = self.model.ev_draw(site, sessions)
            self._check_meter(reading, ev)
            pv_export = self.site.pv_export_a
            balanced = GridReading(reading.at, floor_reading(reading.current_a, ev, pv_export))
        if self.meter_check.alarm:
            allocation = self.allocate(site, None, sessions, self.state, now)
            allocation = replace(allocation, safe_reason=self.meter_check.message)
        else:
            allocation = self.allocate(site, balanced, sessions, self.state, now)
        self.state = allocation.state
        limits = self.model.limits(allocation)
        if self.checks_meter:  # the meter shows a resumed EV's draw before its sample does
            resumed = resumed_sessions(self.model.connectors, self.site.min_current_a)
            ceiling = self.site.grid_limit_a - self.site.margin_a / 2
            before = {} if self.last is None else self.last.limits
            limits = hold_resumed(
                limits, allocation, resumed, reading, before, ceiling_a=ceiling, now=now
            )
        for station_id, shares in self.model.safe_defaults().items():
            self.planner.set_safe_shares(station_id, shares)
        applied = {
            key: w if (w := self._written_a(key)) is not None else
            self.planner.effective_a(key[0], key[1], now)
            for key in limits
        }  # fmt: skip
        targets = self.model.targets(limits, allocation, reading, applied)
        self.planner.set_targets(self._hand_to_writer(targets, allocation))
        self.dispatcher.wake()
        sent = {key: limit.value_a for key, limit in limits.items()}
        forecasts = self.plans.forecasts(allocation, now, sent)
        self.last = Step(now, reading, allocation, limits, self.meter_check, forecasts)
        self.steps += 1
        return self.last

    def _written_a(self, key: tuple[str, int]) -> float | None:
        if self.writer is None or not self.writer.controls(key[0]):
            return None
        return self.writer.applied_a(key[0], key[1])

    def _hand_to_writer(self, targets: list[Target], allocation: Allocation) -> list[Target]:
        """Give the writer its stations' targets (every such station, also with none); return
        the rest for the OCPP planner."""
        if self.writer is None:
            return targets
        mine: dict[str, dict[int, tuple[float, str, bool]]] = {
            s: {} for s in self.model.station_ids if self.writer.controls(s)
        }
        self._switch_paths(set(mine))
        rest = []
        for t in targets:
            if t.station_id in mine:
                mine[t.station_id][t.connector_id] = (t.limit_a, t.source, t.urgent)
            else:
                rest.append(t)
        for station_id, setpoints in mine.items():
            # Phase switching follows the PV surplus (not in a boost window: full current).
            surplus = None if allocation.boosting else allocation.pv_surplus_a
            self.writer.write(station_id, setpoints, surplus)
        return rest

    def _switch_paths(self, now_writer: set[str]) -> None:
        """A station moving to the writer loses our OCPP profiles (a TxDefaultProfile would cap
        its Modbus setpoint); one moving back gets them all again."""
        changed = now_writer ^ self._on_writer
        if not changed:
            return
        for station_id in changed:
            self.planner.forget_station(station_id)
            if station_id in now_writer and self.online(station_id):
                log.info("station %s: limits now through its Modbus slave", station_id)
                task = asyncio.get_running_loop().create_task(self._clear_profiles(station_id))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        self._on_writer = now_writer
        self.dispatcher.wake(full=True)

    async def _clear_profiles(self, station_id: str) -> None:
        try:
            await self.dispatcher.call(station_id, "ClearChargingProfile", {})
        except Exception as exc:  # the station keeps a profile: logged, the setpoint is capped
            log.warning("station %s: ClearChargingProfile failed: %s", station_id, exc)

    def _on_writer_sample(
        self,
        station_id: str,
        connector_id: int,
        values: Mapping[tuple[str, str | None], float],
        at: float,
    ) -> None:
        self.model.sampled(station_id, connector_id, values, at)

    def _on_writer_phases(self, station_id: str, connector_id: int, phases: int, at: float) -> None:
        """The writer switched a socket's phases and a reading at `at` shows it in force: the
        running session's EV counts on them at once rather than after `phase_detect_s` of
        measuring (PV-surplus mode would stop a 3-phase EV switched to one phase meanwhile, its
        1-phase surplus counted against three). Down to one: EV phase 1; back to three: what it
        was counted on before the switch down (unknown: all, until measured)."""
        key = (station_id, connector_id)
        self._switched_at[key] = at
        st = self.state.sockets.get(key)
        if st is None:
            return  # no session balanced on it: a new one is measured as usual
        if phases == 1:
            before = self._phases_before.get(key)
            if before is None or before[0] != st.started_at:
                self._phases_before[key] = (st.started_at, st.ev_phases)
            ev_phases: tuple[int, ...] | None = (1,)
        else:
            before = self._phases_before.pop(key, None)
            ev_phases = before[1] if before is not None and before[0] == st.started_at else None
        if st.ev_phases == ev_phases and st.narrower is None:
            return
        sockets = dict(self.state.sockets)
        sockets[key] = st._replace(ev_phases=ev_phases, narrower=None, narrower_since=None)
        self.state = replace(self.state, sockets=MappingProxyType(sockets))
        log.info("station %s connector %d: EV counted on %s phase(s) after the switch to %d",
                 station_id, connector_id, "all" if ev_phases is None else len(ev_phases),
                 phases)  # fmt: skip
        self._wake.set()

    def _taken_before_switch(self, event: events.MeterSampled) -> bool:
        """Whether a MeterValues sample was taken before the socket's last phase switch shown in
        force, and arrived after it (it waited behind the station's other CALLs and our database
        write; a Modbus reading does not). It shows the EV on its old phases: taken as measured,
        a 3-phase EV switched to one phase would count on three again — PV-surplus mode stops it
        at once, and with a surplus below the 3-phase minimum never starts it again. Judged by
        the sample's timestamp, for `LATE_SAMPLE_S` after the switch (a station's clock may be
        off); the Modbus readings measure the socket meanwhile."""
        key = (event.station_id, event.connector_id)
        switched = self._switched_at.get(key)
        if switched is None:
            return False
        if event.at >= switched or self.clock() - switched > LATE_SAMPLE_S:
            del self._switched_at[key]
            return False
        log.info("station %s connector %d: a sample taken before the phase switch, not counted",
                 event.station_id, event.connector_id)  # fmt: skip
        return True

    def proven_method(self, station_id: str) -> str | None:
        """The delivery method the station's answers proved (None: not yet)."""
        return self._methods.get(station_id)

    def _on_writer_proven(self, station_id: str, method: str) -> None:
        if self._methods.get(station_id) != method:
            self._methods[station_id] = method
            log.info("station %s: charging limits delivered as %s", station_id, method)
            self._proven.put_nowait((station_id, method))

    @property
    def checks_meter(self) -> bool:
        """Whether readings are checked against the EVs' draw (only a meter that includes them
        must show it)."""
        return self.site.meter_includes_ev and self.site.meter.type != "none"

    def _check_meter(self, reading: GridReading, ev: tuple[float, float, float]) -> None:
        """Check a reading against the EVs' draw; raise or clear the alarm (log and metric)."""
        before = self.meter_check
        after = check_meter(
            before,
            reading.at,
            reading.current_a,
            ev,
            pv_export_a=self.site.pv_export_a,
            tolerance_a=self.site.meter_check_tolerance_a,
        )
        self.meter_check = after
        if after is before:
            return
        raised = after.alarm and not before.alarm
        if raised:
            log.warning("site %s: %s", self.site.id, after.message)
        elif before.alarm and not after.alarm:
            log.info("site %s: the grid meter shows the EVs again; alarm cleared", self.site.id)
        metrics.record_plausibility(self.site.id, after.alarm, raised)

    def _grid_reading(self, now: float) -> GridReading | None:
        if self.site.meter.type == "none":
            # No meter: only the grid limit (and local limits) bound the EVs' total.
            return GridReading(now, (0.0, 0.0, 0.0))
        if self.reading is None:
            return None
        return GridReading.of(self.reading)

    def apply_snapshot(self, station_id: str, values: Mapping[str, str | None]) -> None:
        """Local limits and profile capabilities from a station's configuration snapshot (one
        stored earlier only informs; a fresh one in this connection also makes it ready)."""
        self.model.local[station_id] = local_limits_from_config(values)
        if self.writer is not None:  # (it ignores stations not configured for it)
            self.writer.block(station_id, blocking_reason(values))
        try:
            declared = int(str(values.get("NumberOfConnectors")).strip())
        except ValueError:
            declared = 0
        if declared > 0:
            self.model.declared_connectors[station_id] = declared
        phases = self.site.phases
        self.planner.configure_station(station_id, caps=capabilities_from_config(values, phases))

    def _on_result(self, command: Command, status: str, now: float) -> None:
        station_id = command.station_id
        method = self.planner.station(station_id).method
        if method in (TX_PROFILE, TX_DEFAULT_PROFILE) and self._methods.get(station_id) != method:
            self._methods[station_id] = method
            log.info("station %s: charging limits delivered as %s", station_id, method)
            self._proven.put_nowait((station_id, method))
        if self._external_result is not None:
            self._external_result(command, status, now)

    async def _store_methods(self) -> None:
        while True:
            station_id, method = await self._proven.get()
            if self.on_method is None:
                continue
            try:
                await self.on_method(station_id, method)
            except Exception:
                log.exception("site %s: storing %s's method failed", self.site.id, station_id)
