"""What drivers and operators say about a session: departure, energy need and phase count.

Pure bookkeeping, fed by the site loop (issue 11, items 8 and 9):

- a **session plan** (`SessionPlan`) is set for one running transaction through the API or CLI;
- **idTag defaults** (`TagDefaults`) give every session of an idTag its usual departure (a time of
  day in a time zone), energy need and phase count, and remember the phase count measured in the
  idTag's last session (`learned_phases`);
- `SessionPlans.apply` adds to the balancer's sessions what follows: `departure_at`,
  `energy_to_go_kwh` (the need less what the session delivered, from the station's energy
  register, else from its current samples) and `phases_hint` (the session's, else the idTag's
  hint, else what was learnt);
- `SessionPlans.forecasts` says per session whether its limit gets it there in time.

A session's own plan wins over its idTag's defaults, field by field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from balancing import Allocation, BalancerState, Session
from balancing.departures import DepartureForecast, forecast
from csms import events

ConnectorKey = tuple[str, int]

NOMINAL_V = 230.0
"""For the energy of current samples when a station reports no energy register."""
ENERGY_REGISTER = ("Energy.Active.Import.Register", None)
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class PlanError(ValueError):
    """A departure, energy need, phase count or time zone that cannot be right."""


def check_phases(phases: int | None) -> int | None:
    if phases is not None and phases not in (1, 2, 3):
        raise PlanError(f"phases must be 1, 2 or 3, not {phases}")
    return phases


def check_energy(kwh: float | None) -> float | None:
    if kwh is not None and not (math.isfinite(kwh) and 0 <= kwh <= 1000):
        raise PlanError(f"energy_kwh must be between 0 and 1000, not {kwh}")
    return kwh


def check_time_of_day(text: str | None) -> str | None:
    """`HH:MM` (24 h) or None; the canonical `HH:MM` back."""
    if text is None:
        return None
    m = _HHMM.match(text.strip())
    if m is None:
        raise PlanError(f"departure must be a time of day like 07:30, not {text!r}")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PlanError(
            f"unknown time zone {name!r} (an IANA name, e.g. Europe/Amsterdam)"
        ) from None
    return name


def next_time_of_day(hhmm: str, timezone: str, after: float) -> float:
    """Epoch seconds of the first `hhmm` in `timezone` after `after` (epoch seconds)."""
    zone = zoneinfo.ZoneInfo(timezone)
    hour, minute = (int(v) for v in hhmm.split(":"))
    local = dt.datetime.fromtimestamp(after, zone)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate.timestamp() <= after:
        day = (local + dt.timedelta(days=1)).date()
        candidate = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return candidate.timestamp()


def _said(value: object, where: str) -> str | None:
    return None if value is None else where


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What was said about one running session; None = not said."""

    departure_at: float | None = None
    """Epoch seconds."""
    energy_kwh: float | None = None
    """Energy the session should deliver in all (from plug-in)."""
    phases: int | None = None

    def __post_init__(self) -> None:
        if self.departure_at is not None and not math.isfinite(self.departure_at):
            raise PlanError("departure must be a time")
        check_energy(self.energy_kwh)
        check_phases(self.phases)


@dataclass(frozen=True, slots=True)
class TagDefaults:
    """An idTag's usual departure, energy need and phases, and its phases as last measured."""

    id_tag: str
    departure: str | None = None
    """`HH:MM` in `timezone`: the session's departure is the first such time after plug-in."""
    timezone: str = "UTC"
    energy_kwh: float | None = None
    phases: int | None = None
    learned_phases: int | None = None
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if not self.id_tag or len(self.id_tag) > 20:
            raise PlanError("an idTag has 1 to 20 characters (OCPP 1.6 IdToken)")
        object.__setattr__(self, "departure", check_time_of_day(self.departure))
        check_timezone(self.timezone)
        check_energy(self.energy_kwh)
        check_phases(self.phases)
        check_phases(self.learned_phases)


_NONE_SAID = TagDefaults("-")


@dataclass(frozen=True, slots=True)
class Effective:
    """A session's plan after its idTag's defaults filled the gaps, with where each came from."""

    departure_at: float | None
    energy_kwh: float | None
    phases: int | None
    departure_from: str | None  # 'session' or 'idTag'
    energy_from: str | None
    phases_from: str | None  # 'session', 'idTag' or 'learnt'


@dataclass(slots=True)
class Running:
    """A running transaction as the plans see it."""

    transaction_id: int
    id_tag: str
    started_at: float
    meter_start_wh: float
    register_wh: float | None = None
    sampled_wh: float = 0.0  # from current samples, when there is no register
    last_sample: tuple[float, float] | None = None  # (at, total A over phases)
    plan: SessionPlan = field(default_factory=SessionPlan)

    @property
    def delivered_kwh(self) -> float:
        if self.register_wh is not None:
            return max(0.0, self.register_wh - self.meter_start_wh) / 1000.0
        return self.sampled_wh / 1000.0


class SessionPlans:
    """Plans and defaults of one site's sessions (fed by `SiteLoop`)."""

    def __init__(self) -> None:
        self.running: dict[ConnectorKey, Running] = {}
        self.defaults: dict[str, TagDefaults] = {}
        self.learnt: list[tuple[str, int]] = []
        """(idTag, phases) measured in sessions that ended, for the service to store."""

    # -- inputs ----------------------------------------------------------------------------
    def on_event(self, event: events.Event, state: BalancerState) -> None:
        """Transactions and energy samples; `state` (the balancer's, before the session is
        dropped from it) tells the phases an ending session was measured on."""
        if isinstance(event, events.TransactionStarted):
            key = (event.station_id, event.connector_id)
            self.running[key] = Running(
                event.transaction_id, event.id_tag, event.at, float(event.meter_start_wh)
            )
        elif isinstance(event, events.TransactionStopped):
            for key, run in list(self.running.items()):
                if run.transaction_id == event.transaction_id and key[0] == event.station_id:
                    del self.running[key]
                    self._learn(run.id_tag, key, state)
        elif isinstance(event, events.MeterSampled):
            sampled = self.running.get((event.station_id, event.connector_id))
            if sampled is not None:
                self._sampled(sampled, event)

    def _learn(self, id_tag: str, key: ConnectorKey, state: BalancerState) -> None:
        socket = state.sockets.get(key)
        if not id_tag or socket is None or socket.ev_phases is None:
            return
        phases = len(socket.ev_phases)
        known = self.defaults.get(id_tag)
        if known is None:
            self.defaults[id_tag] = TagDefaults(id_tag, learned_phases=phases)
        elif known.learned_phases != phases:
            self.defaults[id_tag] = replace(known, learned_phases=phases)
        self.learnt.append((id_tag, phases))

    @staticmethod
    def _sampled(run: Running, event: events.MeterSampled) -> None:
        register = event.values.get(ENERGY_REGISTER)
        if register is not None and math.isfinite(register):
            run.register_wh = float(register)
            return
        amps = [event.values.get(("Current.Import", f"L{n}")) for n in (1, 2, 3)]
        if any(a is None for a in amps):
            return
        total = sum(max(0.0, float(a or 0.0)) for a in amps)
        if run.last_sample is not None and event.at > run.last_sample[0]:
            at, before = run.last_sample
            run.sampled_wh += before * NOMINAL_V * (event.at - at) / 3600.0
        run.last_sample = (event.at, total)

    def set_plan(self, key: ConnectorKey, plan: SessionPlan) -> int:
        """A plan for the session running on `key`; returns its transaction id. KeyError when
        no transaction runs there."""
        run = self.running[key]
        run.plan = plan
        return run.transaction_id

    def load(
        self, defaults: Iterable[TagDefaults], plans: Mapping[int, SessionPlan] | None = None
    ) -> None:
        """Defaults and session plans stored earlier."""
        for d in defaults:
            self.defaults[d.id_tag] = d
        for run in self.running.values():
            if plans and run.transaction_id in plans:
                run.plan = plans[run.transaction_id]

    # -- outputs ---------------------------------------------------------------------------
    def effective(self, key: ConnectorKey) -> Effective | None:
        """The plan in force for the session on `key` (None: no session there)."""
        run = self.running.get(key)
        if run is None:
            return None
        plan = run.plan
        tag = self.defaults.get(run.id_tag) or _NONE_SAID
        departure, departure_from = plan.departure_at, _said(plan.departure_at, "session")
        if departure is None and tag.departure is not None:
            departure = next_time_of_day(tag.departure, tag.timezone, run.started_at)
            departure_from = "idTag"
        energy, energy_from = plan.energy_kwh, _said(plan.energy_kwh, "session")
        if energy is None:
            energy, energy_from = tag.energy_kwh, _said(tag.energy_kwh, "idTag")
        phases, phases_from = plan.phases, _said(plan.phases, "session")
        if phases is None:
            phases, phases_from = tag.phases, _said(tag.phases, "idTag")
        if phases is None:
            phases, phases_from = tag.learned_phases, _said(tag.learned_phases, "learnt")
        return Effective(departure, energy, phases, departure_from, energy_from, phases_from)

    def to_go_kwh(self, key: ConnectorKey) -> float | None:
        """Energy the session still needs (None: no need known)."""
        e = self.effective(key)
        if e is None or e.energy_kwh is None:
            return None
        return max(0.0, e.energy_kwh - self.running[key].delivered_kwh)

    def apply(self, sessions: Sequence[Session]) -> list[Session]:
        """The balancer's sessions with departure, energy to go and phase hint added."""
        out = []
        for s in sessions:
            e = self.effective(s.key)
            if e is None or (e.departure_at is None and e.phases is None):
                out.append(s)
                continue
            to_go = self.to_go_kwh(s.key) if e.departure_at is not None else None
            out.append(
                replace(
                    s,
                    departure_at=None if to_go is None else e.departure_at,
                    energy_to_go_kwh=to_go,
                    phases_hint=s.phases_hint if e.phases is None else e.phases,
                )
            )
        return out

    def forecasts(
        self, allocation: Allocation, now: float, limits: Mapping[ConnectorKey, float]
    ) -> dict[ConnectorKey, DepartureForecast]:
        """Per session with a departure and a need: will its limit get it there? `limits` are
        the limits sent (the allocation after local limits and caps)."""
        out = {}
        for a in allocation.sockets:
            key = a.socket_key
            e = self.effective(key)
            to_go = self.to_go_kwh(key)
            if e is None or e.departure_at is None or to_go is None:
                continue
            amps = min(a.limit_a, limits.get(key, a.limit_a))
            out[key] = forecast(e.departure_at, to_go, amps, len(a.phases), now)
        return out


@dataclass(frozen=True, slots=True)
class SessionView:
    """A running session's plan, progress and forecast (the API's read model)."""

    station_id: str
    connector_id: int
    transaction_id: int
    id_tag: str
    started_at: float
    plan: Effective
    delivered_kwh: float
    energy_to_go_kwh: float | None
    limit_a: float | None
    """The limit sent in the last control step (None before the first)."""
    forecast: DepartureForecast | None
    """None without a departure and an energy need."""


def session_views(
    plans: SessionPlans,
    forecasts: Mapping[ConnectorKey, DepartureForecast],
    limits: Mapping[ConnectorKey, float],
    keys: Iterable[ConnectorKey] | None = None,
) -> list[SessionView]:
    """Views of the running sessions (those on `keys`, else all), in connector order."""
    out = []
    for key in sorted(plans.running if keys is None else keys):
        run = plans.running.get(key)
        e = plans.effective(key)
        if run is None or e is None:
            continue
        out.append(
            SessionView(
                key[0],
                key[1],
                run.transaction_id,
                run.id_tag,
                run.started_at,
                e,
                run.delivered_kwh,
                plans.to_go_kwh(key),
                limits.get(key),
                forecasts.get(key),
            )
        )
    return out
