"""Grid phases and phase rotation (Alfen `Phase-Connected` / `SCN-PhaseMapping-n`).

A station's feeder cable may be connected to the grid in any of six phase sequences, or to a single
phase. The rotation maps the phases an EV uses (EV phase 1..3, as seen at the socket) to the grid
phases L1..L3 it loads:

    L1L2L3 (code 4): EV phase 1 → L1, 2 → L2, 3 → L3
    L3L1L2 (code 8): EV phase 1 → L3, 2 → L1, 3 → L2
    L2     (code 2): every EV phase → L2 (a single-phase feeder)

Alfen 3-phase double-socket stations add an *internal* rotation on top of the feeder: socket 1
(left) is wired L3L2L1 and socket 2 L1L2L3, so two single-phase EVs on one station load different
grid phases (guide 2.6). `compose(feeder, internal)` gives the rotation a socket really has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class Phase(IntEnum):
    """A grid phase. The value is the 1-based phase number."""

    L1 = 1
    L2 = 2
    L3 = 3

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class PhaseRotation:
    """Which grid phase each EV phase lands on: `grid[k]` is the grid phase of EV phase k + 1.

    A single-phase feeder has one entry; every EV phase then lands on that grid phase.
    """

    grid: tuple[Phase, ...]

    def __post_init__(self) -> None:
        n = len(self.grid)
        if n == 1 or (n == 3 and len(set(self.grid)) == 3):
            return
        raise ValueError(f"a phase rotation names one phase or all three once, not {self.grid!r}")

    @property
    def name(self) -> str:
        """The sequence as Alfen writes it, e.g. `L3L1L2`."""
        return "".join(p.name for p in self.grid)

    @property
    def code(self) -> int:
        """The `SCN-PhaseMapping-n` code (1..9)."""
        return _NAME_TO_CODE[self.name]

    @property
    def single_phase(self) -> bool:
        """True for a feeder connected to one grid phase only."""
        return len(self.grid) == 1

    def grid_phase(self, ev_phase: int) -> Phase:
        """The grid phase loaded by EV phase `ev_phase` (1..3)."""
        if not 1 <= ev_phase <= 3:
            raise ValueError(f"EV phase must be 1, 2 or 3, not {ev_phase}")
        return self.grid[0] if len(self.grid) == 1 else self.grid[ev_phase - 1]

    def grid_phases(self, ev_phases: Iterable[int]) -> tuple[Phase, ...]:
        """The grid phases (sorted, without repeats) loaded by the given EV phases."""
        return tuple(sorted({self.grid_phase(k) for k in ev_phases}))

    def __str__(self) -> str:
        return self.name


ROTATION_NAMES: tuple[str, ...] = (
    "L1",
    "L2",
    "L3",
    "L1L2L3",
    "L1L3L2",
    "L2L1L3",
    "L2L3L1",
    "L3L1L2",
    "L3L2L1",
)
"""The nine sequences in `SCN-PhaseMapping` code order: code n is `ROTATION_NAMES[n - 1]`."""

_NAME_TO_CODE = {name: i + 1 for i, name in enumerate(ROTATION_NAMES)}


def _parse_name(name: str) -> tuple[Phase, ...]:
    return tuple(Phase[name[i : i + 2]] for i in range(0, len(name), 2))


ROTATIONS: dict[str, PhaseRotation] = {n: PhaseRotation(_parse_name(n)) for n in ROTATION_NAMES}
"""Every rotation by its name (`L1`, …, `L3L2L1`)."""

ROTATION_CODES: dict[int, PhaseRotation] = {
    i + 1: ROTATIONS[n] for i, n in enumerate(ROTATION_NAMES)
}
"""Every rotation by its `SCN-PhaseMapping-n` code (1=L1 … 4=L1L2L3 … 9=L3L2L1)."""

IDENTITY = ROTATIONS["L1L2L3"]
ALFEN_SOCKET1_INTERNAL = ROTATIONS["L3L2L1"]
"""Internal rotation of socket 1 on Alfen 3-phase double stations (socket 2 is `L1L2L3`)."""


def phase_rotation(value: str | int | PhaseRotation) -> PhaseRotation:
    """A rotation from its name (`"L3L1L2"`, case-insensitive), its code (1..9) or itself.

    Raises ValueError naming the accepted values for anything else (code 0 means "no socket" in
    `SCN-PhaseMapping-2` and is not a rotation).
    """
    if isinstance(value, PhaseRotation):
        return value
    if isinstance(value, bool):  # bool is an int; True/False are not codes
        raise ValueError(f"not a phase rotation: {value!r}")
    if isinstance(value, int):
        try:
            return ROTATION_CODES[value]
        except KeyError:
            raise ValueError(f"phase mapping code must be 1..9, not {value}") from None
    try:
        return ROTATIONS[value.strip().upper()]
    except KeyError:
        raise ValueError(
            f"unknown phase rotation {value!r}; expected one of {', '.join(ROTATION_NAMES)}"
        ) from None


def compose(feeder: PhaseRotation, internal: PhaseRotation) -> PhaseRotation:
    """The rotation of a socket wired `internal` inside a station whose feeder is `feeder`.

    EV phase k reaches station phase `internal.grid[k]`, which the feeder connects to the grid.
    A single-phase feeder stays single-phase whatever the internal wiring.
    """
    if feeder.single_phase:
        return feeder
    if internal.single_phase:
        return PhaseRotation((feeder.grid[internal.grid[0] - 1],))
    return PhaseRotation(tuple(feeder.grid[p - 1] for p in internal.grid))
