"""What the balancer is given: the site (a tree of limits), a grid reading and the sessions.

All values are frozen dataclasses checked on construction; a bad value raises ValueError with a
message that names it. Currents are in A (per phase), times in seconds. `now` and `GridReading.at`
are on the same clock: epoch seconds (UTC), because boost windows are times of day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from .phases import PhaseRotation, phase_rotation
from .sources import LimitSource

SocketKey = tuple[str, int]
"""A socket is named by (station id, connector id)."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


class Mode(StrEnum):
    """How the site charges: within the grid limit, or only from PV export."""

    BALANCED = "balanced"
    PV_SURPLUS = "pv-surplus"


class Sharing(StrEnum):
    """How the current left after everyone's minimum is shared (docs/balancing.md, "Sharing").

    * `equal-current`: max-min fair in amps (Alfen's way): every EV that is not held by its own
      cap or a full constraint gets the same current, whatever its number of phases.
    * `equal-power`: max-min fair in power: a 1-phase EV may get three times the current of a
      3-phase EV beside it, so both charge at the same kW.
    * `max-energy`: EVs that load more phases rise first (each class max-min fair in amps), the
      others keep at least their minimum: phase capacity a 1-phase EV cannot use goes to those
      that can, which delivers the most energy and is the least fair to 1-phase EVs.
    """

    EQUAL_CURRENT = "equal-current"
    EQUAL_POWER = "equal-power"
    MAX_ENERGY = "max-energy"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A daily window in site-local time, minutes after midnight, `start` inclusive.

    A window whose end is before its start runs over midnight (`22:00-06:00`).
    """

    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        _check(0 <= self.start_min < 1440, f"window start must be 0..1439 min: {self.start_min}")
        _check(0 <= self.end_min <= 1440, f"window end must be 0..1440 min: {self.end_min}")

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """`"HH:MM-HH:MM"` → window; raises ValueError naming the text if it is malformed."""
        try:
            start, end = (part.strip() for part in text.split("-"))
            (sh, sm), (eh, em) = (map(int, t.split(":")) for t in (start, end))
        except ValueError:
            raise ValueError(f"boost window must look like 07:00-09:30, not {text!r}") from None
        _check(0 <= sm < 60 and 0 <= em < 60, f"minutes must be 0..59 in {text!r}")
        return cls(sh * 60 + sm, eh * 60 + em)

    def contains(self, minute: float) -> bool:
        """Whether minute-of-day `minute` (0 ≤ minute < 1440) lies in the window."""
        if self.start_min <= self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


@dataclass(frozen=True, slots=True)
class PvSurplus:
    """Parameters of the PV-surplus mode (seed 004 and the product spec).

    An EV starts when the export covers its minimum current (plus `hysteresis_a`) for
    `start_hold_s`; it keeps its minimum when the export drops and stops only after the export has
    not covered the minimum for `stop_delay_s`. `min_charge_a` > 0 lets sessions always charge at
    least max(min current, min_charge_a), surplus or not ("min + PV"). Inside a boost window the
    site charges as in balanced mode.
    """

    start_hold_s: float = 60.0
    stop_delay_s: float = 300.0
    hysteresis_a: float = 1.0
    min_charge_a: float = 0.0
    boost_windows: tuple[TimeWindow, ...] = ()
    utc_offset_s: float = 0.0
    """Site-local time minus UTC, for the boost windows (the caller updates it across DST)."""

    def __post_init__(self) -> None:
        for name in ("start_hold_s", "stop_delay_s", "hysteresis_a", "min_charge_a"):
            value = getattr(self, name)
            _check(_finite(value) and value >= 0, f"pv {name} must be a number ≥ 0, not {value!r}")
        _check(_finite(self.utc_offset_s), "pv utc_offset_s must be a number")

    def boosting(self, now: float) -> bool:
        """Whether `now` (epoch seconds) falls in a boost window."""
        if not self.boost_windows:
            return False
        minute = ((now + self.utc_offset_s) % 86400.0) / 60.0
        return any(w.contains(minute) for w in self.boost_windows)


@dataclass(frozen=True, slots=True)
class Socket:
    """One connector of a station."""

    connector_id: int
    max_current_a: float
    """`ConnectorN-MaxCurrent`."""
    socket_id: int | None = None
    """`SCN-SocketID`: alternating serves the highest ids first. None → position in the site."""
    min_current_a: float | None = None
    """A higher minimum for this socket (e.g. 14 A); the site's minimum applies otherwise."""
    phase_rotation: PhaseRotation | None = None
    """This socket's own feeder (`SCN-PhaseMapping-n`) when it differs from the station's."""
    max_source: LimitSource = LimitSource.CONNECTOR_MAX
    """What sets `max_current_a`: the connector's own maximum, or an operator cap below it."""

    def __post_init__(self) -> None:
        _check(self.connector_id >= 1, f"connector id must be ≥ 1, not {self.connector_id}")
        _check(
            _finite(self.max_current_a) and self.max_current_a >= 0,
            f"connector {self.connector_id} max current must be ≥ 0 A, not {self.max_current_a!r}",
        )
        if self.min_current_a is not None:
            _check(
                _finite(self.min_current_a) and self.min_current_a > 0,
                f"connector {self.connector_id} min current must be > 0 A",
            )


@dataclass(frozen=True, slots=True)
class Station:
    """A charge point; `max_current_a` (`Station-MaxCurrent`) is per phase, shared by sockets."""

    id: str
    max_current_a: float
    sockets: tuple[Socket, ...]
    phase_rotation: PhaseRotation | None = None
    """Feeder sequence (`Phase-Connected`). None → `L1L2L3` on 3-phase sites, `L1` on 1-phase."""
    circuit_id: str | None = None
    internal_rotation: bool | None = None
    """Alfen's internal rotation (socket 1 `L3L2L1`). None → on for 3-phase two-socket stations."""
    dual_feeder: bool = False
    """Each socket has its own feeder, so `max_current_a` applies per socket, not shared."""
    max_source: LimitSource = LimitSource.STATION_MAX
    """What sets `max_current_a`: `Station-MaxCurrent`, its safe current while it reports its
    meter lost, or an operator cap below them."""

    def __post_init__(self) -> None:
        _check(bool(self.id), "a station needs an id")
        _check(
            _finite(self.max_current_a) and self.max_current_a >= 0,
            f"station {self.id} max current must be ≥ 0 A, not {self.max_current_a!r}",
        )
        _check(len(self.sockets) >= 1, f"station {self.id} needs at least one socket")
        ids = [s.connector_id for s in self.sockets]
        _check(len(ids) == len(set(ids)), f"station {self.id} lists a connector twice")


@dataclass(frozen=True, slots=True)
class Circuit:
    """A sub-circuit (cable, breaker) with a per-phase limit, below `parent` (None = the grid)."""

    id: str
    limit_a: float
    parent: str | None = None
    source: LimitSource = LimitSource.CIRCUIT
    """What the node is: a cable or breaker, or a station group such as an SCN (`SCN_SHARE`)."""

    def __post_init__(self) -> None:
        _check(bool(self.id), "a circuit needs an id")
        _check(
            _finite(self.limit_a) and self.limit_a >= 0,
            f"circuit {self.id} limit must be ≥ 0 A, not {self.limit_a!r}",
        )


@dataclass(frozen=True, slots=True)
class Site:
    """One grid connection and everything below it."""

    grid_limit_a: float
    """Per-phase limit of the grid connection (the main fuse), before the margin."""
    stations: tuple[Station, ...]
    id: str = "site"
    phases: int = 3
    margin_a: float = 0.0
    safe_current_a: float = 6.0
    """Total for all EVs together while the meter reading is stale (`SCN-TotalSafeCurrent`)."""
    meter_includes_ev: bool = True
    """The meter also measures our EVs (`SmartMeterIncludesCharger`)."""
    meter_timeout_s: float = 10.0
    mode: Mode = Mode.BALANCED
    pv: PvSurplus = field(default_factory=PvSurplus)
    min_current_a: float = 6.0
    alternating_period_s: float = 900.0
    ramp_a_per_s: float | None = 1.0
    """Largest increase per second of a socket's limit; None = increases at once."""
    circuits: tuple[Circuit, ...] = ()
    underuse_threshold_a: float = 3.0
    """An EV drawing this much less than offered …"""
    underuse_after_s: float = 180.0
    """… for this long gets its offer lowered (Alfen: > 3 A for > 3 minutes)."""
    cap_a: float | None = None
    """The operator's cap on all EVs together, per phase: the root of the tree below the grid
    (None = none)."""
    phase_detect_s: float = 60.0
    """A narrower set of phases must be measured this long before an EV is taken to use fewer."""
    sharing: Sharing = Sharing.EQUAL_CURRENT
    """How the current above the minimums is shared (see `Sharing`)."""
    release_after_s: float | None = 120.0
    """An EV offered its minimum or more that draws < 1 A (or suspended itself) this long gives
    its share back (limit 0) until it draws again or `release_retry_s` passes; None = never."""
    release_retry_s: float = 900.0
    """A released EV that does not say it is suspended is offered its minimum again this long
    after its release (it cannot show that it wants to charge while offered 0 A)."""

    def __post_init__(self) -> None:
        if isinstance(self.mode, str) and not isinstance(self.mode, Mode):
            try:
                object.__setattr__(self, "mode", Mode(self.mode))
            except ValueError:
                raise ValueError(
                    f"site {self.id}: mode must be 'balanced' or 'pv-surplus', not {self.mode!r}"
                ) from None
        if isinstance(self.sharing, str) and not isinstance(self.sharing, Sharing):
            try:
                object.__setattr__(self, "sharing", Sharing(self.sharing))
            except ValueError:
                names = ", ".join(repr(v.value) for v in Sharing)
                raise ValueError(
                    f"site {self.id}: sharing must be one of {names}, not {self.sharing!r}"
                ) from None
        _check(self.phases in (1, 3), f"site {self.id}: phases must be 1 or 3, not {self.phases}")
        for name in ("grid_limit_a", "margin_a", "safe_current_a", "underuse_threshold_a"):
            value = getattr(self, name)
            _check(
                _finite(value) and value >= 0, f"site {self.id}: {name} must be ≥ 0, not {value!r}"
            )
        for name in ("meter_timeout_s", "alternating_period_s", "min_current_a", "release_retry_s"):
            value = getattr(self, name)
            _check(
                _finite(value) and value > 0, f"site {self.id}: {name} must be > 0, not {value!r}"
            )
        for name in ("underuse_after_s", "phase_detect_s"):
            value = getattr(self, name)
            _check(
                _finite(value) and value >= 0, f"site {self.id}: {name} must be ≥ 0, not {value!r}"
            )
        if self.release_after_s is not None:
            _check(
                _finite(self.release_after_s) and self.release_after_s > 0,
                f"site {self.id}: release_after_s must be > 0 (or None), "
                f"not {self.release_after_s!r}",
            )
        if self.cap_a is not None:
            _check(
                _finite(self.cap_a) and self.cap_a >= 0,
                f"site {self.id}: cap_a must be ≥ 0 (or None), not {self.cap_a!r}",
            )
        if self.ramp_a_per_s is not None:
            _check(
                _finite(self.ramp_a_per_s) and self.ramp_a_per_s > 0,
                f"site {self.id}: ramp_a_per_s must be > 0 (or None), not {self.ramp_a_per_s!r}",
            )
        self._check_tree()

    def _check_tree(self) -> None:
        circuits = {c.id: c for c in self.circuits}
        _check(len(circuits) == len(self.circuits), f"site {self.id}: a circuit is listed twice")
        for c in self.circuits:
            seen = {c.id}
            parent = c.parent
            while parent is not None:
                _check(parent in circuits, f"circuit {c.id}: unknown parent circuit {parent!r}")
                _check(parent not in seen, f"circuit {c.id}: circuits form a loop")
                seen.add(parent)
                parent = circuits[parent].parent
        ids = [s.id for s in self.stations]
        _check(len(ids) == len(set(ids)), f"site {self.id}: a station is listed twice")
        for s in self.stations:
            _check(
                s.circuit_id is None or s.circuit_id in circuits,
                f"station {s.id}: unknown circuit {s.circuit_id!r}",
            )
            if self.phases == 1:
                for r in (s.phase_rotation, *(k.phase_rotation for k in s.sockets)):
                    _check(
                        r is None or r.name == "L1",
                        f"station {s.id}: a 1-phase site only has L1, not {r}",
                    )

    def station(self, station_id: str) -> Station:
        """The station with this id; KeyError if there is none."""
        for s in self.stations:
            if s.id == station_id:
                return s
        raise KeyError(station_id)


class ReadingLike(Protocol):
    """Anything with a time and signed per-phase currents, e.g. the meter's `MeterReading`."""

    @property
    def at(self) -> float: ...

    @property
    def current_a(self) -> tuple[float, float, float]: ...


@dataclass(frozen=True, slots=True)
class GridReading:
    """A grid meter reading: signed current per phase, + import, − export (A)."""

    at: float
    """Epoch seconds when measured."""
    current_a: tuple[float, float, float]
    power_w: tuple[float, float, float] | None = None
    voltage_v: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        _check(len(self.current_a) == 3, "a grid reading has three phase currents")

    @classmethod
    def of(cls, reading: ReadingLike) -> GridReading:
        """Copy the fields the balancer uses from another reading type."""
        return cls(float(reading.at), tuple(float(c) for c in reading.current_a))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Session:
    """An EV plugged into a socket (a socket "in use")."""

    key: SocketKey
    """(station id, connector id)."""
    started_at: float
    """When the EV was plugged in; a different value on the same socket is a new session."""
    ev_max_current_a: float | None = None
    """The EV's own maximum if known."""
    measured_a: tuple[float, float, float] | None = None
    """Latest current per EV phase 1..3 (A), e.g. the station's Current.Import; None = unknown."""
    charging: bool = True
    """False when the EV has suspended charging itself (OCPP SuspendedEV): it draws nothing."""
    min_current_a: float | None = None
    """The EV needs more than the site minimum (14 A for some EVs, found by probing)."""
    phases_hint: int | None = None
    """How many phases the EV is known to use (e.g. from its last session) until it is measured."""
    measured_at: float | None = None
    """When `measured_a` was measured (epoch seconds); None = now. With sparse MeterValues an
    old sample is not taken as fresh evidence that the EV still draws nothing."""
    departure_at: float | None = None
    """When the EV leaves (epoch seconds), if the driver said so (`departures.py`)."""
    energy_to_go_kwh: float | None = None
    """Energy the EV still needs by `departure_at` (kWh); with it, it may be served first."""

    def __post_init__(self) -> None:
        for name in ("departure_at", "energy_to_go_kwh"):
            value = getattr(self, name)
            _check(
                value is None or (_finite(value) and value >= 0),
                f"session {self.key}: {name} must be a number ≥ 0, not {value!r}",
            )
        _check(
            self.phases_hint is None or self.phases_hint in (1, 2, 3),
            f"session {self.key}: phases_hint must be 1, 2 or 3",
        )
        _check(
            len(self.key) == 2 and isinstance(self.key[0], str) and isinstance(self.key[1], int),
            f"a session key is (station id, connector id), not {self.key!r}",
        )
        _check(_finite(self.started_at), f"session {self.key}: started_at must be a number")
        if self.ev_max_current_a is not None:
            _check(
                _finite(self.ev_max_current_a) and self.ev_max_current_a >= 0,
                f"session {self.key}: ev_max_current_a must be ≥ 0",
            )
        if self.min_current_a is not None:
            _check(
                _finite(self.min_current_a) and self.min_current_a > 0,
                f"session {self.key}: min_current_a must be > 0",
            )
        if self.measured_a is not None:
            _check(len(self.measured_a) == 3, f"session {self.key}: measured_a has three phases")
        if self.measured_at is not None:
            _check(_finite(self.measured_at), f"session {self.key}: measured_at must be a number")


def rotation_of(value: str | int | PhaseRotation | None) -> PhaseRotation | None:
    """`phase_rotation` that passes None through (for optional settings)."""
    return None if value is None else phase_rotation(value)
