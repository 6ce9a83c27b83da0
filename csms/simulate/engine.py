# Over 450 lines because Simulation steps loop, planner, stations and EVs on one simulated clock.
"""A site's day in simulated time with the real control policy and no sockets.

The pieces are the ones the running system uses, wired without I/O:

- the control loop's pure step (`csms.charging.loop.SiteLoop.step`: the site model, the balancing
  core, the composition of limits with the stations' local limits, the delivery planner's targets);
- the delivery planner decides which SetChargingProfile/ClearChargingProfile/GetCompositeSchedule
  each station gets next (one call in flight per station); a command reaches its station
  `delay_s` after it was decided, and its answer goes back to the planner;
- each station is the simulator's `StationModel` (profiles, local limits, socket sharing, the
  probing minute, MeterValues samples), each EV a `SimEv` that stops when its need is met;
- the grid meter reads household − PV + the EVs' draw, every `poll_interval_s` of the site;
  the stations sample MeterValues (`Current.Import` per phase) once per meter poll by default,
  as the demo's do: the loop counts an EV's raise as household until a sample shows it drawing.

Within one step the meter is read and the stations sample before the commands due at that moment
land, so a reading and a sample of one moment show the same EV draw (as a real poll and a real
sample do); the commands' effect shows in the next step's reading and samples.

Time only moves through `run_until(t)`: it steps in `step_s` increments, so the same scenario always
gives the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from balancing import allocate as balancing_allocate
from csms import events
from csms.charging.loop import Allocate, SiteLoop
from csms.charging.planner import Command
from csms.charging.sessions import SessionPlan
from csms.meter.reading import make_reading
from csms.settings import ChargingSettings, SiteSettings
from csms.sim import smart_charging as sc
from csms.sim.configuration import StationConfiguration
from csms.sim.ev import SimEv
from csms.sim.model import Sample, StationModel, StatusChanged
from csms.sim.sharing import MIN_CURRENT_A
from csms.simulate.metrics import FairnessTally, GridTally
from csms.simulate.policies import with_policy
from csms.simulate.scenario import DAY_S, Scenario, Visit

DAY0 = 1767225600.0  # 2026-01-01T00:00:00Z: the simulated day's midnight (epoch seconds)
MISSED_KWH = 0.01  # an EV that leaves with less than its need minus this missed its departure


@dataclass
class EvTrack:
    """One visit as simulated: its window inside the run and what it got."""

    visit: Visit
    arrive_s: float  # seconds after the first midnight
    leave_s: float
    ev: SimEv | None = None
    gone: bool = False
    present_s: float = 0.0
    paused_s: float = 0.0  # present, not full, drawing nothing
    paused_free_s: float = 0.0  # ... while its phases had room for the minimum current

    @property
    def energy_kwh(self) -> float:
        return 0.0 if self.ev is None else self.ev.charged_wh / 1000.0

    @property
    def missed(self) -> bool:
        """It left within the run without its energy need."""
        return self.gone and self.energy_kwh < self.visit.need_kwh - MISSED_KWH


@dataclass(frozen=True, slots=True)
class TracePoint:
    """The state at one moment (every `trace_s`), for the benchmark's per-moment maximum."""

    t: float
    household_a: tuple[float, float, float]
    pv_a: tuple[float, float, float]
    grid_a: tuple[float, float, float]
    current_a: Mapping[str, float]  # EV name → current per phase, of the EVs present
    wanting: frozenset[str]  # EVs present and not full


@dataclass
class Result:
    """What `csms simulate` prints."""

    site: SiteSettings
    start_s: float
    simulated_s: float
    reaction_s: float
    tally: GridTally
    fairness: FairnessTally
    evs: list[EvTrack]
    trace: list[TracePoint] = field(default_factory=list)

    @property
    def delivered_kwh(self) -> float:
        return sum(e.energy_kwh for e in self.evs)

    def as_dict(self) -> dict[str, Any]:
        mean, worst = self.fairness.index()
        moment = self.fairness.moment_index()
        return {
            "site": self.site.id,
            "grid_limit_a": self.site.grid_limit_a,
            "simulated_s": round(self.simulated_s, 1),
            "reaction_s": round(self.reaction_s, 1),
            "peak_a": [round(p, 2) for p in self.tally.peak_a],
            "seconds_above_limit": round(self.tally.above_s, 1),
            "ampere_seconds_above_limit": round(self.tally.amp_s, 1),
            "seconds_above_beyond_reaction": round(self.tally.beyond_reaction_s, 1),
            "ampere_seconds_beyond_reaction": round(self.tally.beyond_reaction_amp_s, 1),
            "episodes_above": self.tally.episodes,
            "delivered_kwh": round(self.delivered_kwh, 3),
            "jain_equal_evs": None if mean is None else round(mean, 3),
            "jain_equal_evs_worst": None if worst is None else round(worst, 3),
            "jain_equal_evs_moment": None if moment is None else round(moment, 3),
            "missed_departures": sum(1 for e in self.evs if e.missed),
            "evs": [
                {
                    "name": e.visit.name,
                    "socket": f"{e.visit.station}/{e.visit.connector}",
                    "arrival_s": e.arrive_s,
                    "departure_s": e.leave_s,
                    "need_kwh": e.visit.need_kwh,
                    "energy_kwh": round(e.energy_kwh, 3),
                    "missed_departure": e.missed,
                    "present_s": round(e.present_s, 1),
                    "paused_s": round(e.paused_s, 1),
                    "paused_with_room_s": round(e.paused_free_s, 1),
                }
                for e in self.evs
            ],
        }


def window(visits: tuple[Visit, ...], start_s: float, end_s: float) -> list[EvTrack]:
    """The visits inside [start, end): one that left before the start comes the next day (as in
    the demo), one that arrived before the start is plugged in from the start."""
    out = []
    for visit in visits:
        arrive, leave = visit.arrive_s, visit.leave_s
        while leave <= start_s:
            arrive, leave = arrive + DAY_S, leave + DAY_S
        arrive = max(arrive, start_s)
        if arrive < end_s:
            out.append(EvTrack(visit, arrive, leave))
    return sorted(out, key=lambda e: e.arrive_s)


async def _no_call(*_args: Any) -> Any:  # the loop's dispatcher never runs in a simulation
    raise RuntimeError("a simulation sends no OCPP calls")


class Simulation:
    """One site's control loop, stations, EVs and meter, stepped in simulated time."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        start_s: float = 0.0,
        duration_s: float = DAY_S,
        step_s: float = 1.0,
        delay_s: float = 1.0,
        sample_interval_s: int | None = None,
        trace_s: float = 60.0,
        site: SiteSettings | None = None,
        charging: ChargingSettings | None = None,
        allocate: Allocate = balancing_allocate,
        departures_known: bool = False,
    ) -> None:
        if not step_s > 0 or not duration_s > 0 or delay_s < 0:
            raise ValueError("step and duration must be positive, the delay not negative")
        self.scenario = scenario
        self.site = site or scenario.site
        self.start_s = start_s
        self.end_s = start_s + duration_s
        self.step_s = step_s
        self.delay_s = delay_s
        self.trace_s = trace_s
        self.departures_known = departures_known
        self.t = start_s
        self.loop = SiteLoop(
            self.site,
            charging or scenario.charging,
            call=_no_call,
            online=lambda _sid: True,
            clock=self.now,
            allocate=allocate,
        )
        if sample_interval_s is None:  # once per meter poll, in whole seconds (OCPP's unit)
            sample_interval_s = max(1, round(self.site.meter.poll_interval_s))
        self.stations: dict[str, StationModel] = {}
        for configured in self.site.stations:
            sockets = scenario.sockets.get(configured.id, 1)
            config = StationConfiguration(
                sockets,
                {
                    "Phase-Connected": configured.phase_rotation,
                    "MeterValueSampleInterval": str(sample_interval_s),
                },
            )
            model = StationModel.for_station(configured.id, sockets, config, self.now())
            self.stations[configured.id] = model
            # What the central system reads from the station's configuration after its boot.
            known, _ = config.get(None)
            self.loop.apply_snapshot(configured.id, {kv.key: kv.value for kv in known})
        self.evs = window(scenario.visits, start_s, self.end_s)
        self.pending: list[tuple[float, int, Command]] = []  # (due, order, command)
        self._order = 0
        self._next_tx = 1
        self._next_reading = start_s
        self._next_control = start_s
        self._next_trace = start_s
        self._woken = True
        self.poll_s = self.site.meter.poll_interval_s
        self.control_s = self.loop.charging.control_interval_s
        self.reaction_s = 2 * max(self.poll_s, step_s) + 2 * delay_s + step_s
        self.tally = GridTally(self.site.grid_limit_a, self.reaction_s)
        self.fairness = FairnessTally()
        self.trace: list[TracePoint] = []
        self.grid_a = (0.0, 0.0, 0.0)
        self._install_safe_defaults()

    def _install_safe_defaults(self) -> None:
        """Before the run, every station accepts its safe TxDefaultProfile, as on a site whose
        stations have been connected all along (the demo waits for the same before its EVs)."""
        for _ in range(10):  # one profile per station per round; a few rounds at most
            self.loop.step()
            commands = self.loop.planner.next_commands(self.now(), lambda _sid: True, full=True)
            if not commands:
                return
            for command in commands:
                model = self.stations[command.station_id]
                status, response = apply_command(model, command)
                self.loop.planner.on_result(command, status, self.now(), response)

    def now(self) -> float:
        """Epoch seconds of the simulated moment (the loop's clock)."""
        return DAY0 + self.t

    # -- stepping ----------------------------------------------------------------------------
    def run(self) -> Result:
        """Simulate the whole window; EVs due to leave at its end leave."""
        self.run_until(self.end_s)
        for station_id, model in self.stations.items():
            self._feed(station_id, model.step(self.now()))
        self._arrivals_and_departures(self.t)
        return self.result()

    def run_until(self, t: float) -> None:
        """Advance to `t` (seconds after the first midnight) in steps of `step_s`."""
        while self.t < min(t, self.end_s) - 1e-9:
            self._step()

    def _step(self) -> None:
        t = self.t
        for station_id, model in self.stations.items():
            self._feed(station_id, model.step(self.now()))
        self._arrivals_and_departures(t)
        # The reading and the samples of this moment first, then the commands due now: a sample
        # taken before a command next to a reading taken after it made each raised or resumed EV
        # look like household, and the loop paused it again at once.
        self._control(t)
        self._deliver(t)
        dt = min(self.step_s, self.end_s - t)
        self._measure(t, dt)
        self.t = t + dt

    def _feed(self, station_id: str, changes: list[StatusChanged | Sample]) -> None:
        """Station → central system: what the OCPP server would turn into events."""
        at = self.now()
        for change in changes:
            if isinstance(change, StatusChanged):
                self.loop.on_event(
                    events.ConnectorStatusChanged(
                        station_id, change.connector_id, change.status,
                        change.error_code, change.info, change.vendor_error_code, at,
                    )
                )  # fmt: skip
                self._woken = True
            else:
                values: dict[tuple[str, str | None], float] = {
                    ("Current.Import", f"L{n + 1}"): round(change.grid_a[n], 1) for n in range(3)
                }
                values[("Current.Offered", None)] = round(change.offered_a, 1)
                values[("Energy.Active.Import.Register", None)] = round(change.energy_wh, 1)
                self.loop.on_event(
                    events.MeterSampled(
                        station_id, change.connector_id, change.transaction_id, at, values
                    )
                )

    def _arrivals_and_departures(self, t: float) -> None:
        for track in self.evs:
            visit = track.visit
            model = self.stations[visit.station]
            if track.ev is not None and not track.gone and t >= track.leave_s:
                stop = model.unplug(visit.connector)
                track.gone = True
                if stop is not None and stop.transaction_id is not None:
                    self.loop.on_event(
                        events.TransactionStopped(
                            visit.station, stop.transaction_id, stop.meter_stop_wh,
                            stop.reason, self.now(), visit.connector,
                        )
                    )  # fmt: skip
                self._feed(visit.station, model.step(self.now()))
                self._woken = True
            elif track.ev is None and track.arrive_s <= t < track.leave_s:
                if model.connector(visit.connector).ev is not None:
                    continue  # the previous EV leaves in this same step, later in the list
                track.ev = SimEv(
                    max_current_a=visit.max_current_a,
                    phases=visit.phases,
                    battery_wh=visit.need_kwh * 1000.0,
                    id_tag=f"SIM{self._next_tx:05d}",
                )
                model.plug_in(visit.connector, track.ev)
                self._feed(visit.station, model.step(self.now()))
                meter_start = model.begin_session(visit.connector, track.ev.id_tag or "")
                tx = self._next_tx
                self._next_tx += 1
                model.transaction_started(visit.connector, tx)
                self.loop.on_event(
                    events.TransactionStarted(
                        visit.station, visit.connector, tx, track.ev.id_tag or "",
                        meter_start, self.now(),
                    )
                )  # fmt: skip
                self._tell(track)
                self._feed(visit.station, model.step(self.now()))
                self._woken = True

    def _tell(self, track: EvTrack) -> None:
        """What the driver tells the central system on arrival (departure, energy need)."""
        visit = track.visit
        if self.departures_known:
            visit = visit.telling_all()
        if not visit.tells:
            return
        departure = None
        if visit.told_departure_s is not None:  # shifted with the visit into the window
            departure = DAY0 + visit.told_departure_s + (track.leave_s - visit.leave_s)
        plan = SessionPlan(departure_at=departure, energy_kwh=visit.told_energy_kwh)
        self.loop.plans.set_plan((visit.station, visit.connector), plan)

    def _deliver(self, t: float) -> None:
        """Commands whose delay has passed reach their stations; answers go to the planner."""
        due = [p for p in self.pending if p[0] <= t + 1e-9]
        if not due:
            return
        self.pending = [p for p in self.pending if p[0] > t + 1e-9]
        for _, _, command in sorted(due, key=lambda p: (p[0], p[1])):
            model = self.stations[command.station_id]
            self._feed(command.station_id, model.step(self.now()))
            status, response = apply_command(model, command)
            self._feed(command.station_id, model.step(self.now()))
            self.loop.planner.on_result(command, status, self.now(), response)
        self._dispatch()

    def _control(self, t: float) -> None:
        reading_due = self.site.meter.type != "none" and t >= self._next_reading - 1e-9
        if reading_due:
            self._next_reading += self.poll_s * max(
                1, int((t - self._next_reading) // self.poll_s) + 1
            )
            household, pv = self._load(t)
            grid = self._grid(household, pv)
            self.loop.on_reading(make_reading(self.now(), grid, source="simulated"))
        if reading_due or self._woken or t >= self._next_control - 1e-9:
            self._woken = False
            self._next_control = t + self.control_s
            self.loop.step()
            self._dispatch()

    def _dispatch(self) -> None:
        for command in self.loop.planner.next_commands(self.now(), lambda _sid: True, full=True):
            self._order += 1
            self.pending.append((self.t + self.delay_s, self._order, command))

    # -- measuring ---------------------------------------------------------------------------
    def _load(self, t: float) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        point = self.scenario.profile.at(t)
        return point.household_a, point.pv_a

    def _grid(
        self, household: tuple[float, float, float], pv: tuple[float, float, float]
    ) -> tuple[float, float, float]:
        ev = [0.0, 0.0, 0.0]
        for model in self.stations.values():
            for connector in model.connectors.values():
                for p in range(3):
                    ev[p] += connector.grid_a[p]
        return (
            household[0] - pv[0] + ev[0],
            household[1] - pv[1] + ev[1],
            household[2] - pv[2] + ev[2],
        )

    def _measure(self, t: float, dt: float) -> None:
        household, pv = self._load(t)
        grid = self._grid(household, pv)
        self.grid_a = grid
        self.tally.add(grid, dt)
        room_limit = self.site.grid_limit_a - self.site.margin_a
        wanting: dict[str, tuple[tuple[int, float], float]] = {}
        currents: dict[str, float] = {}
        for track in self.evs:
            if track.ev is None or track.gone:
                continue
            visit = track.visit
            model = self.stations[visit.station]
            connector = model.connector(visit.connector)
            track.present_s += dt
            currents[visit.name] = connector.current_a
            if track.ev.full:
                continue
            wanting[visit.name] = ((visit.phases, visit.max_current_a), connector.current_a)
            if connector.current_a <= 0:
                track.paused_s += dt
                phases = model.socket_grid_phases(visit.connector)[: visit.phases]
                if all(room_limit - grid[p] >= MIN_CURRENT_A for p in phases):
                    track.paused_free_s += dt
        self.fairness.add(wanting, dt)
        if t >= self._next_trace - 1e-9:
            self._next_trace = t + self.trace_s
            self.trace.append(TracePoint(t, household, pv, grid, currents, frozenset(wanting)))

    def result(self) -> Result:
        return Result(
            self.site,
            self.start_s,
            self.t - self.start_s,
            self.reaction_s,
            self.tally,
            self.fairness,
            self.evs,
            self.trace,
        )


def apply_command(model: StationModel, command: Command) -> tuple[str, dict[str, Any] | None]:
    """What the simulated station answers to one of the planner's commands (as its OCPP handlers
    in `csms.sim.protocol` do)."""
    payload = command.payload
    if command.action == "SetChargingProfile":
        decision = model.set_profile(int(payload["connectorId"]), payload["csChargingProfiles"])
        return decision.status, None
    if command.action == "ClearChargingProfile":
        removed = model.clear_profiles(
            profile_id=payload.get("id"),
            connector_id=payload.get("connectorId"),
            purpose=payload.get("chargingProfilePurpose"),
            stack_level=payload.get("stackLevel"),
        )
        return ("Accepted" if removed else "Unknown"), None
    if command.action == "GetCompositeSchedule":
        connector_id = int(payload["connectorId"])
        unit = payload.get("chargingRateUnit") or "A"
        if not 0 <= connector_id <= model.sockets or unit not in model.rules().allowed_units:
            return "Rejected", {"status": "Rejected"}
        schedule = model.composite(connector_id, int(payload["duration"]), unit)
        return "Accepted", {
            "status": "Accepted",
            "connectorId": connector_id,
            "scheduleStart": sc.format_time(schedule.start),
            "chargingSchedule": schedule.to_ocpp(),
        }
    return "NotSupported", None


def simulate(
    scenario: Scenario,
    *,
    start_s: float = 0.0,
    duration_s: float = DAY_S,
    step_s: float = 1.0,
    delay_s: float = 1.0,
    policy: str | None = None,
    departures_known: bool = False,
) -> Result:
    """Run a scenario (optionally with another sharing `policy`, and with every driver telling
    their departure and energy need) and return its figures."""
    site = scenario.site if policy is None else with_policy(scenario.site, policy)
    sim = Simulation(
        scenario,
        start_s=start_s,
        duration_s=duration_s,
        step_s=step_s,
        delay_s=delay_s,
        site=site,
        departures_known=departures_known,
    )
    return sim.run()
