"""The narrow interface through which the site loop hands limits to another control path.

A station controlled over its Modbus slave (`control = "modbus"`) gets its composed per-socket
limit through a `LimitWriter` instead of OCPP profiles; the loop keeps composing the limit (and
naming its binding source) exactly as for OCPP. The writer reports the sockets' measured currents
(fresher than MeterValues), the proof of its method and the phase switches it made (once a
reading shows them in force) back through the callbacks it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

# (station id, connector id, {(measurand, phase): value}, at)
OnSample = Callable[[str, int, Mapping[tuple[str, str | None], float], float], None]
OnProven = Callable[[str, str], None]
# (station id, connector id, phases, at): the socket now charges on that many phases.
OnPhases = Callable[[str, int, int, float], None]


class LimitWriter(Protocol):
    def controls(self, station_id: str) -> bool:
        """Whether this writer, not OCPP, delivers the station's limits now (a station whose
        path is refused stays under OCPP control until it is allowed)."""
        ...

    def write(
        self,
        station_id: str,
        setpoints: Mapping[int, tuple[float, str, bool]],
        surplus_a: float | None = None,
    ) -> None:
        """One station's per-socket limits: connector → (amps, binding source, urgent)."""
        ...

    def block(self, station_id: str, reason: str | None) -> None:
        """Refuse control of a station (`reason`, one line naming the key to change) or allow
        it (None), from its configuration snapshot; a station not configured for this path is
        ignored."""
        ...

    def applied_a(self, station_id: str, connector_id: int) -> float | None:
        """The limit in force on the socket through this path (None: none)."""
        ...

    def station_view(self, station_id: str) -> dict[str, Any] | None:
        """What the API shows of the station's path (link, refusal, errors); None: not ours."""
        ...

    def socket_view(self, station_id: str, connector_id: int) -> dict[str, Any] | None:
        """The socket's values read over this path, next to the OCPP values; None: none."""
        ...

    def attach(
        self, on_sample: OnSample, on_proven: OnProven, on_phases: OnPhases | None = None
    ) -> None:
        """Where measurements, the proven method and phase switches in force go."""
        ...

    async def run(self) -> None:
        """Deliver until cancelled."""
        ...
