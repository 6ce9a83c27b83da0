"""The simulated station without I/O: connectors, EVs, profiles, configuration, energy.

`StationModel` is driven by its shell (`csms.sim.station.SimStation`): every change (plug-in,
transaction start/stop, profile, configuration write, time passing) is followed by `step(now)`,
which integrates energy since the last step, recomputes each socket's offered current and the
EVs' draw, and returns what the shell must send (status changes, due meter samples).

Applied current of a socket = min(profile limit (TxProfile/TxDefaultProfile),
ConnectorN-MaxCurrent, the probing current during the first minute, its share of the station
budget = min(Station-MaxCurrent, ChargePointMaxProfile) per phase); below 6 A (14 A for an EV that
needs it) it is paused. The EV draws min(offered, its maximum) on the grid phases its socket's
rotation gives it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from csms.sim import smart_charging as sc
from csms.sim.configuration import StationConfiguration
from csms.sim.ems import EmsState
from csms.sim.ev import SimEv
from csms.sim.phases import PHASE_NAMES, Triple, grid_currents, socket_phases
from csms.sim.reservations import Reservation, blocks
from csms.sim.sharing import MIN_CURRENT_A, SocketDemand, share

VOLTAGE_V = 230.0
PROBE_S = 60.0


@dataclass
class Connector:
    """Mutable state of one socket."""

    connector_id: int
    meter_wh: float
    ev: SimEv | None = None
    status: str = "Available"
    inoperative: bool = False
    inoperative_when_idle: bool = False
    session_started_at: float | None = None  # charging session (probing counts from here)
    transaction_id: int | None = None  # known once StartTransaction was answered
    id_tag: str | None = None
    meter_start_wh: int = 0
    finishing: bool = False
    remote_id_tag: str | None = None
    remote_until: float = 0.0
    remote_profile: Mapping[str, Any] | None = None
    offered_a: float = 0.0
    current_a: float = 0.0  # per phase the EV uses
    ev_phases: int = 0
    grid_a: Triple = (0.0, 0.0, 0.0)
    next_sample_at: float | None = None
    limit_source: str | None = None
    reservation: Reservation | None = None  # csms.sim.reservations

    @property
    def in_session(self) -> bool:
        return self.session_started_at is not None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    connector_id: int
    status: str
    error_code: str = "NoError"
    info: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """A meter sample taken at `at` for one connector."""

    connector_id: int
    transaction_id: int | None
    at: float
    grid_a: Triple
    power_w: float
    energy_wh: float
    offered_a: float
    context: str = "Sample.Periodic"


@dataclass(frozen=True, slots=True)
class StopInfo:
    """What a StopTransaction carries."""

    connector_id: int
    transaction_id: int | None
    meter_stop_wh: int
    at: float
    reason: str
    id_tag: str | None


@dataclass
class StationModel:
    """State and rules of one simulated station (no sockets, no clock)."""

    sockets: int
    config: StationConfiguration
    now: float
    reject_tx_profile: bool = False
    applies_profiles: bool = True  # False: accepts profiles and keeps none (a faulty station)
    initial_meter_wh: float = 0.0
    connectors: dict[int, Connector] = field(default_factory=dict)
    profiles: tuple[sc.ChargingProfile, ...] = ()
    station_status: str = "Available"
    meter_lost: bool = False  # the station's own ALB meter does not answer
    ems: EmsState | None = None  # limits written over the Modbus slave (csms.sim.ems)

    def __post_init__(self) -> None:
        if self.sockets not in (1, 2):
            raise ValueError("a simulated Alfen station has 1 or 2 sockets")
        for cid in range(1, self.sockets + 1):
            self.connectors[cid] = Connector(cid, meter_wh=self.initial_meter_wh + cid * 1000.0)
        self._last = self.now

    @classmethod
    def for_station(
        cls, station_id: str, sockets: int, config: StationConfiguration, now: float
    ) -> StationModel:
        """A model whose energy registers start at a lifetime value derived from the id."""
        start = float(zlib.crc32(station_id.encode()) % 5_000_000)
        return cls(sockets=sockets, config=config, now=now, initial_meter_wh=start)

    # -- configuration-derived values ----------------------------------------------------------

    def socket_grid_phases(self, connector_id: int) -> tuple[int, ...]:
        return socket_phases(self.config.value("Phase-Connected"), connector_id, self.sockets)

    def rules(self) -> sc.ProfileRules:
        units = {
            {"current": "A", "power": "W"}.get(u.strip().lower(), "")
            for u in self.config.value("ChargingScheduleAllowedChargingRateUnit").split(",")
        }
        return sc.ProfileRules(
            connectors=self.sockets,
            max_stack_level=self.config.integer("ChargeProfileMaxStackLevel"),
            max_periods=self.config.integer("ChargingScheduleMaxPeriods"),
            max_installed=self.config.integer("MaxChargingProfilesInstalled"),
            allowed_units=frozenset(units - {""}),
            tx_profile_supported=not self.reject_tx_profile,
            applies_profiles=self.applies_profiles,
        )

    def transactions(self) -> dict[int, sc.Transaction]:
        return {
            c.connector_id: sc.Transaction(c.transaction_id, c.session_started_at)
            for c in self.connectors.values()
            if c.transaction_id is not None and c.session_started_at is not None
        }

    # -- EV and transaction events -------------------------------------------------------------

    def connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"connector {connector_id} does not exist") from None

    def plug_in(self, connector_id: int, ev: SimEv) -> str | None:
        """An EV is plugged in; returns the id tag to start with (a pending remote start wins)."""
        c = self.connector(connector_id)
        if c.ev is not None:
            raise ValueError(f"connector {connector_id} already has an EV")
        c.ev = ev
        c.finishing = False
        if c.remote_id_tag is not None and self.now <= c.remote_until:
            return c.remote_id_tag
        c.remote_id_tag = None
        return None if blocks(c, ev.id_tag, self.now) else ev.id_tag

    def unplug(self, connector_id: int) -> StopInfo | None:
        """The EV leaves; a running session stops with reason EVDisconnected."""
        c = self.connector(connector_id)
        if c.ev is None:
            raise ValueError(f"connector {connector_id} has no EV")
        stop = self.end_session(connector_id, "EVDisconnected") if c.in_session else None
        c.ev = None
        c.finishing = False
        return stop

    def can_start(self, connector_id: int) -> bool:
        c = self.connector(connector_id)
        return c.ev is not None and not c.in_session and not c.inoperative

    def begin_session(self, connector_id: int, id_tag: str) -> int:
        """Charging starts (StartTransaction is being sent); returns meterStart in Wh."""
        c = self.connector(connector_id)
        # Whole seconds, like the StartTransaction timestamp that relative schedules count from.
        c.session_started_at = float(math.floor(self.now))
        c.id_tag = id_tag
        c.transaction_id = None
        c.meter_start_wh = int(c.meter_wh)
        c.next_sample_at = None
        c.remote_id_tag = None
        return c.meter_start_wh

    def transaction_started(self, connector_id: int, transaction_id: int) -> None:
        self.connector(connector_id).transaction_id = transaction_id

    def end_session(self, connector_id: int, reason: str) -> StopInfo:
        """Stop the running session (TxProfiles end with it)."""
        c = self.connector(connector_id)
        stop = StopInfo(connector_id, c.transaction_id, int(c.meter_wh), self.now, reason, c.id_tag)
        c.session_started_at = None
        c.transaction_id = None
        c.id_tag = None
        c.next_sample_at = None
        c.finishing = c.ev is not None
        self.profiles = sc.end_transaction(self.profiles, connector_id)
        if c.inoperative_when_idle:
            c.inoperative, c.inoperative_when_idle = True, False
        return stop

    def session_of(self, transaction_id: int) -> int | None:
        for c in self.connectors.values():
            if c.transaction_id == transaction_id:
                return c.connector_id
        return None

    # -- smart charging ------------------------------------------------------------------------

    def set_profile(self, connector_id: int, data: Mapping[str, Any]) -> sc.Decision:
        try:
            profile = sc.parse_profile(connector_id, data, installed_at=math.floor(self.now))
        except sc.ProfileError as exc:
            return sc.Decision(False, self.profiles, str(exc))
        decision = sc.install(self.profiles, profile, self.rules(), self.transactions())
        self.profiles = decision.profiles
        return decision

    def clear_profiles(self, **criteria: Any) -> int:
        self.profiles, removed = sc.clear(self.profiles, **criteria)
        return removed

    def local_limit(self, connector_id: int) -> float:
        station = self.config.number("Station-MaxCurrent")
        if connector_id == 0:
            return station
        return min(station, self.config.number(f"Connector{connector_id}-MaxCurrent"))

    def composite(self, connector_id: int, duration: int, unit: str) -> sc.CompositeSchedule:
        c = self.connectors.get(connector_id)
        tx = None
        if c is not None and c.transaction_id is not None and c.session_started_at is not None:
            tx = sc.Transaction(c.transaction_id, c.session_started_at)
        return sc.composite_schedule(
            self.profiles,
            connector_id,
            self.now,
            duration,
            tx=tx,
            local_limit_a=self.local_limit(connector_id),
            rate_unit=unit,
        )

    # -- time ----------------------------------------------------------------------------------

    def step(self, now: float) -> list[StatusChanged | Sample]:
        """Advance to `now`: integrate energy, re-apply limits, report changes and due samples."""
        dt = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self.now = self._last
        if dt:
            for c in self.connectors.values():
                wh = sum(c.grid_a) * VOLTAGE_V * dt / 3600.0
                c.meter_wh += wh
                if c.ev is not None:
                    c.ev.charged_wh += wh
        self._apply_limits()
        events: list[StatusChanged | Sample] = []
        station = self.station_state()
        if station.status != self.station_status:
            self.station_status = station.status
            events.append(station)
        for c in self.connectors.values():
            if c.remote_id_tag is not None and self.now > c.remote_until:
                c.remote_id_tag = None
            if c.reservation is not None and self.now >= c.reservation.expiry:
                c.reservation = None  # expired
            status = self._status_of(c)
            if status != c.status:
                c.status = status
                events.append(StatusChanged(c.connector_id, status))
            sample = self._due_sample(c)
            if sample is not None:
                events.append(sample)
        return events

    def in_safe_mode(self) -> bool:
        """Active Load Balancing without its meter: the station falls back to Safe-MaxCurrent."""
        return self.meter_lost and self.config.flag("Active-LoadBalancing")

    def station_state(self) -> StatusChanged:
        """Connector 0's status; in safe mode Faulted like a real unit (alfen-smart-charging.md)."""
        if self.in_safe_mode():
            safe = self.config.number("Safe-MaxCurrent")
            return StatusChanged(
                0, "Faulted", "OtherError", f"Meter lost, in safe mode max {safe:.1f}A", "210"
            )
        return StatusChanged(0, "Available")

    def _apply_limits(self) -> None:
        now = self.now
        budget = self.config.number("Station-MaxCurrent")
        cap = sc.station_limit(self.profiles, now)
        if cap is not None:
            budget = min(budget, cap.amps)
        if self.in_safe_mode():
            # The lowest limit leads: a lower profile still wins over the safe current.
            budget = min(budget, self.config.number("Safe-MaxCurrent"))
        chameleon = self.config.number("Chameleon-MinCurrent")
        demands = []
        for c in self.connectors.values():
            if not c.in_session or c.ev is None:
                c.limit_source = None
                continue
            assert c.session_started_at is not None
            tx = None
            if c.transaction_id is not None:
                tx = sc.Transaction(c.transaction_id, c.session_started_at)
            limit = sc.transaction_limit(self.profiles, c.connector_id, now, tx)
            connector_max = self.config.number(f"Connector{c.connector_id}-MaxCurrent")
            socket_cap = connector_max if limit is None else min(connector_max, limit.amps)
            ems = None if self.ems is None else self.ems.limit(c.connector_id, now)
            socket_cap = socket_cap if ems is None else min(socket_cap, ems)
            c.limit_source = limit.source if limit is not None else None
            probing = now - c.session_started_at < PROBE_S
            if probing:
                socket_cap = min(socket_cap, chameleon)
            phases = self.socket_grid_phases(c.connector_id)
            number = c.ev.phases
            if limit is not None and limit.number_phases is not None:
                number = min(number, limit.number_phases)
            forced = None if self.ems is None else self.ems.phases(c.connector_id)
            number = number if forced is None else min(number, forced)
            c.ev_phases = min(number, len(phases))
            wants = 0.0 if c.ev.full else c.ev.max_current_a
            need = 14.0 if c.ev.needs_14a and not probing else MIN_CURRENT_A
            demands.append(
                SocketDemand(c.connector_id, phases[: c.ev_phases], socket_cap, wants, need)
            )
        offered = share(budget, demands)
        for c in self.connectors.values():
            c.offered_a = offered.get(c.connector_id, 0.0)
            c.current_a = c.ev.takes(c.offered_a) if c.ev is not None and c.in_session else 0.0
            phases = self.socket_grid_phases(c.connector_id)
            c.grid_a = grid_currents(phases, c.ev_phases, c.current_a)

    def _status_of(self, c: Connector) -> str:
        if c.in_session:
            if c.current_a > 0:
                return "Charging"
            return "SuspendedEVSE" if c.offered_a < MIN_CURRENT_A else "SuspendedEV"
        if c.inoperative:
            return "Unavailable"
        if c.ev is None:
            return "Reserved" if c.reservation is not None else "Available"
        return "Finishing" if c.finishing else "Preparing"

    def _due_sample(self, c: Connector) -> Sample | None:
        interval = self.config.integer("MeterValueSampleInterval")
        if c.transaction_id is None or c.session_started_at is None or interval <= 0:
            return None
        if c.next_sample_at is None:
            c.next_sample_at = c.session_started_at + interval
        if self.now < c.next_sample_at:
            return None
        while c.next_sample_at <= self.now:
            c.next_sample_at += interval
        return self.sample(c.connector_id)

    def sample(self, connector_id: int, context: str = "Sample.Periodic") -> Sample:
        c = self.connector(connector_id)
        return Sample(
            connector_id,
            c.transaction_id,
            self.now,
            c.grid_a,
            sum(c.grid_a) * VOLTAGE_V,
            c.meter_wh,
            c.offered_a,
            context,
        )


def sampled_values(
    sample: Sample, measurands: list[str], *, unphased: bool = False
) -> list[dict[str, Any]]:
    """The `sampledValue` list of a MeterValues message for the configured measurands.

    `unphased`: `Current.Import` as one value for the outlet without a `phase` (the current per
    phase the EV draws), as some firmware reports it.
    """
    out: list[dict[str, Any]] = []
    base = {"context": sample.context, "location": "Outlet"}
    for measurand in measurands:
        if measurand == "Current.Import" and unphased:
            amps = max(sample.grid_a)
            out.append({**base, "measurand": measurand, "unit": "A", "value": f"{amps:.1f}"})
        elif measurand == "Current.Import":
            for name, amps in zip(PHASE_NAMES, sample.grid_a, strict=True):
                out.append(
                    {**base, "measurand": measurand, "phase": name, "unit": "A",
                     "value": f"{amps:.1f}"}
                )  # fmt: skip
        elif measurand == "Power.Active.Import":
            out.append(
                {**base, "measurand": measurand, "unit": "W", "value": f"{sample.power_w:.0f}"}
            )
        elif measurand == "Energy.Active.Import.Register":
            out.append(
                {**base, "measurand": measurand, "unit": "Wh", "value": f"{sample.energy_wh:.0f}"}
            )
        elif measurand == "Current.Offered":
            out.append(
                {**base, "measurand": measurand, "unit": "A", "value": f"{sample.offered_a:.1f}"}
            )
        elif measurand == "Voltage":
            for name in PHASE_NAMES:
                out.append(
                    {**base, "measurand": measurand, "phase": f"{name}-N", "unit": "V",
                     "value": f"{VOLTAGE_V:.1f}"}
                )  # fmt: skip
        elif measurand == "Frequency":
            out.append({**base, "measurand": measurand, "value": "50.0"})
        elif measurand == "Temperature":
            out.append({**base, "measurand": measurand, "location": "Body", "unit": "Celsius",
                        "value": "25.0"})  # fmt: skip
        elif measurand == "Power.Factor":
            out.append({**base, "measurand": measurand, "value": "1.00"})
    return out
