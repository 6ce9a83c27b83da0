"""A grid meter reading: time, signed per-phase current, and power/voltage where the meter has them.

Every reading is built through `make_reading`, which rejects NaN, infinities and physically
implausible values with `InvalidReading` (the reason in its message). Nothing downstream ever sees a
reading that failed these checks, so balancing can trust whatever it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Phases = tuple[float, float, float]

# Bounds well beyond any low-voltage grid connection a charging site has (a 4000 A connection is
# already a large transformer); values outside them mean a wrong register map or a corrupt frame.
MAX_CURRENT_A = 4000.0
MAX_POWER_W = 4000.0 * 500.0
MAX_VOLTAGE_V = 500.0


class InvalidReading(ValueError):
    """A value from the meter is NaN, infinite or out of range; the message says which."""


@dataclass(frozen=True)
class MeterReading:
    """One validated sample of the grid connection.

    `current_a` is signed per phase: positive is import from the grid, negative is export (PV).
    `at` is epoch seconds from the injected clock, taken when the sample was complete.
    """

    at: float
    current_a: Phases
    power_w: Phases | None
    voltage_v: Phases | None
    source: str

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (for the API and `csms meter read --json`)."""
        return {
            "at": self.at,
            "current_a": list(self.current_a),
            "power_w": None if self.power_w is None else list(self.power_w),
            "voltage_v": None if self.voltage_v is None else list(self.voltage_v),
            "source": self.source,
        }


def _checked(name: str, values: Sequence[float], low: float, high: float) -> Phases:
    if len(values) != 3:
        raise InvalidReading(f"{name}: expected 3 phases, got {len(values)}")
    out = []
    for phase, value in enumerate(values, start=1):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidReading(f"{name} L{phase} is {number}")
        if not low <= number <= high:
            raise InvalidReading(f"{name} L{phase} = {number:g} is outside [{low:g}, {high:g}]")
        out.append(number)
    return (out[0], out[1], out[2])


def make_reading(
    at: float,
    current_a: Sequence[float],
    power_w: Sequence[float] | None = None,
    voltage_v: Sequence[float] | None = None,
    source: str = "",
) -> MeterReading:
    """Validate raw per-phase values and build a `MeterReading`; raises `InvalidReading`."""
    if not math.isfinite(at) or at < 0:
        raise InvalidReading(f"reading time {at} is not a valid epoch time")
    return MeterReading(
        at=float(at),
        current_a=_checked("current", current_a, -MAX_CURRENT_A, MAX_CURRENT_A),
        power_w=None if power_w is None else _checked("power", power_w, -MAX_POWER_W, MAX_POWER_W),
        voltage_v=None if voltage_v is None else _checked("voltage", voltage_v, 0.0, MAX_VOLTAGE_V),
        source=source,
    )
