"""A site in a closed loop without sockets: the real `SiteLoop` (model, balancer, delivery planner)
against simple physics, stepped on an injected clock.

Stations accept every command `station_latency_s` after it was picked; an EV follows the limit in
force at its station `ev_react_s` later (0 below the minimum current: paused); the grid meter reads
the household, less the PV, plus the EVs' currents when it sees them; each EV's station sends a
MeterValues sample every `sample_s`. Everything is 3-phase on L1L2L3, one socket per station.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from balancing import allocate
from csms import events
from csms.charging.loop import SiteLoop, Step
from csms.charging.planner import Command
from csms.meter.reading import MeterReading
from csms.settings import ChargingSettings, SiteSettings

CAPABILITIES: dict[str, str | None] = {
    "ChargingScheduleAllowedChargingRateUnit": "Current",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleMaxPeriods": "24",
    "NumberOfConnectors": "1",
}


async def _no_call(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError("the closed loop delivers commands itself")


@dataclass
class Ev:
    station_id: str
    transaction_id: int
    max_a: float
    phases: int = 3
    limits: list[tuple[float, float]] = field(default_factory=list)  # (since, A) at the station

    def current(self, at: float, react_s: float, minimum: float) -> float:
        """What the EV draws per phase at `at`: the station's limit `react_s` earlier."""
        limit = 0.0
        for since, value in self.limits:
            if since <= at - react_s:
                limit = value
        return 0.0 if limit < minimum else min(limit, self.max_a)


@dataclass
class Tick:
    at: float
    grid_a: tuple[float, float, float]  # what really flows through the grid connection
    reading_a: tuple[float, float, float]  # what the meter shows
    step: Step


class ClosedLoop:
    """One site: `plug_in` EVs, `run` for a while, then look at `ticks`."""

    def __init__(
        self,
        site: dict[str, Any],
        stations: Sequence[str],
        *,
        household_a: float = 2.0,
        pv_a: float = 0.0,
        meter_sees_ev: bool = True,
        sample_s: float = 2.0,
        ev_react_s: float = 2.0,
        station_latency_s: float = 0.3,
        charging: dict[str, Any] | None = None,
    ) -> None:
        settings = SiteSettings.model_validate(
            {"id": "s", "meter": {"type": "simulated"}, "stations": [{"id": s} for s in stations]}
            | site
        )
        self.now = 1_000_000.0
        self.loop = SiteLoop(
            settings,
            ChargingSettings.model_validate({"control_interval_s": 1.0} | (charging or {})),
            call=_no_call,
            online=lambda _: True,
            clock=lambda: self.now,
            allocate=allocate,
        )
        self.household_a = household_a
        self.pv_a = pv_a
        self.meter_sees_ev = meter_sees_ev
        self.sample_s = sample_s
        self.ev_react_s = ev_react_s
        self.station_latency_s = station_latency_s
        self.evs: dict[str, Ev] = {}
        self.ticks: list[Tick] = []
        self.accepted: list[tuple[float, Command]] = []  # every command, when it was accepted
        self._in_flight: list[tuple[float, Command]] = []
        self._next_sample = self.now
        for station_id in stations:
            self.loop.on_event(events.StationConnected(station_id, self.now))
            snapshot = dict(CAPABILITIES)
            self.loop.on_event(events.SnapshotTaken(station_id, self.now, 1, "boot", snapshot))
        self.run(5.0)  # the pause after the snapshot, and the safe defaults delivered

    @property
    def minimum_a(self) -> float:
        return self.loop.site.min_current_a

    def plug_in(self, station_id: str, max_a: float = 16.0, phases: int = 3) -> None:
        tx = 100 + len(self.evs)
        self.evs[station_id] = Ev(station_id, tx, max_a, phases)
        loop = self.loop
        loop.on_event(events.ConnectorStatusChanged(station_id, 1, "Charging", "NoError", None,
                                                    None, self.now))  # fmt: skip
        loop.on_event(events.TransactionStarted(station_id, 1, tx, "TAG", 0, self.now))

    def ev_grid_a(self, at: float) -> tuple[float, float, float]:
        total = [0.0, 0.0, 0.0]
        for ev in self.evs.values():
            amps = ev.current(at, self.ev_react_s, self.minimum_a)
            for phase in range(ev.phases):
                total[phase] += amps
        return (total[0], total[1], total[2])

    def run(self, seconds: float, dt: float = 0.25) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += dt
            self._deliver()
            base = self.household_a - self.pv_a
            a, b, c = self.ev_grid_a(self.now)
            grid = (base + a, base + b, base + c)
            reading = grid if self.meter_sees_ev else (base, base, base)
            if self.now >= self._next_sample:
                self._next_sample += self.sample_s
                self._sample()
            self.loop.on_reading(MeterReading(self.now, reading, None, None, "closed-loop"))
            step = self.loop.step()
            self.ticks.append(Tick(self.now, grid, reading, step))

    def _deliver(self) -> None:
        planner, now = self.loop.planner, self.now
        due = [c for at, c in self._in_flight if at <= now]
        self._in_flight = [(at, c) for at, c in self._in_flight if at > now]
        for command in due:
            planner.on_result(command, "Accepted", now, {"status": "Accepted"})
            self.accepted.append((now, command))
        for command in planner.next_commands(now, self.loop.can_send):
            self._in_flight.append((now + self.station_latency_s, command))
        for ev in self.evs.values():
            limit = planner.effective_a(ev.station_id, 1, now)
            if not ev.limits or ev.limits[-1][1] != limit:
                ev.limits.append((now, limit))

    def _sample(self) -> None:
        for ev in self.evs.values():
            amps = ev.current(self.now, self.ev_react_s, self.minimum_a)
            values: dict[tuple[str, str | None], float] = {
                ("Current.Import", f"L{p}"): amps if p <= ev.phases else 0.0 for p in (1, 2, 3)
            }
            self.loop.on_event(
                events.MeterSampled(ev.station_id, 1, ev.transaction_id, self.now, values)
            )

    def allocated_a(self, tick: Tick) -> list[float]:
        """The targets' sum per grid phase in one step."""
        totals = [0.0, 0.0, 0.0]
        allocations = tick.step.allocation.by_key()
        for key, limit in tick.step.limits.items():
            alloc = allocations.get(key)
            for phase in () if alloc is None else alloc.phases:
                totals[phase - 1] += limit.value_a
        return totals
