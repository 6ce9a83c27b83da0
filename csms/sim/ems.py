"""The simulated station's EMS side (Modbus slave control), without I/O.

As the real Alfen in EMS mode (`alfen-modbus-slave.md`): a write of 1210 sets the socket's Modbus
max current and restarts the validity timer (`MbsSlaveTCPIPValidityTime`); while the timer runs
the socket applies the minimum of that setpoint and its other limits; when it runs out — and
before the first write after a boot — the socket applies the ALB safe current (`Safe-MaxCurrent`).
Setpoint and timer are not kept across a reboot. 1215 sets 1 or 3 phases.

EMS control is on when the ALB licence is present, `Active-LoadBalancing` is On, `MbsSlaveTCPIP`
(data source = Energy Management System) is On and `MbsSlaveTCPIPMode` is `Socket` ("allow
writing max currents"); otherwise writes are refused and nothing is limited by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from csms.sim.configuration import FEATURE_ALB, StationConfiguration


@dataclass
class EmsSocket:
    setpoint_a: float | None = None
    written_at: float = 0.0
    phases: int = 3


@dataclass
class EmsState:
    """Per-socket setpoints and timers; `boots` tells when the station rebooted."""

    config: StationConfiguration
    boots: Callable[[], int] = lambda: 0
    sockets: dict[int, EmsSocket] = field(default_factory=dict)
    writes: int = 0
    _boot_seen: int = 0

    def enabled(self) -> bool:
        """Whether the station takes limits from its Modbus slave."""
        c = self.config
        return (
            bool(c.unlocked_features & FEATURE_ALB)
            and c.flag("Active-LoadBalancing")
            and c.flag("MbsSlaveTCPIP")
            and c.value("MbsSlaveTCPIPMode") == "Socket"
        )

    def _socket(self, connector_id: int) -> EmsSocket:
        if self.boots() != self._boot_seen:  # a reboot forgets setpoints and timers
            self._boot_seen = self.boots()
            self.sockets.clear()
        return self.sockets.setdefault(connector_id, EmsSocket())

    @property
    def validity_s(self) -> float:
        return self.config.number("MbsSlaveTCPIPValidityTime")

    @property
    def safe_a(self) -> float:
        return self.config.number("Safe-MaxCurrent")

    def write_setpoint(self, connector_id: int, amps: float, now: float) -> None:
        s = self._socket(connector_id)
        s.setpoint_a, s.written_at = amps, now
        self.writes += 1

    def write_phases(self, connector_id: int, phases: int) -> None:
        self._socket(connector_id).phases = phases

    def setpoint(self, connector_id: int) -> float | None:
        return self._socket(connector_id).setpoint_a

    def seconds_left(self, connector_id: int, now: float) -> float:
        s = self._socket(connector_id)
        if s.setpoint_a is None:
            return 0.0
        return max(0.0, s.written_at + self.validity_s - now)

    def accounted(self, connector_id: int, now: float) -> bool:
        """Whether the written setpoint is in force (1214)."""
        return self.enabled() and self.seconds_left(connector_id, now) > 0

    def limit(self, connector_id: int, now: float) -> float | None:
        """The EMS limit on the socket now (None: EMS control off)."""
        if not self.enabled():
            return None
        s = self._socket(connector_id)
        if s.setpoint_a is not None and self.seconds_left(connector_id, now) > 0:
            return s.setpoint_a
        return self.safe_a

    def phases(self, connector_id: int) -> int | None:
        """Phases set through 1215 (None: EMS control off)."""
        return self._socket(connector_id).phases if self.enabled() else None
