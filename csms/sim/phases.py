"""Which grid phases a simulated EV loads: the station's feeder rotation and internal rotation.

`Phase-Connected` names the grid phase on each of the station's terminals (`L3L1L2`: terminal 1 on
grid L3, terminal 2 on L1, terminal 3 on L2; `L2`: a single-phase station on grid L2). A 3-phase
double station rotates socket 1 internally (L3L2L1, guide 2.6) so two 1-phase EVs draw from
different phases; socket 2 and single stations are not rotated. An EV with n phases uses the first
n conductors of its socket.
"""

from __future__ import annotations

from collections.abc import Sequence

Triple = tuple[float, float, float]

PHASE_ROTATIONS = ("L1", "L2", "L3", "L1L2L3", "L1L3L2", "L2L1L3", "L2L3L1", "L3L1L2", "L3L2L1")
PHASE_NAMES = ("L1", "L2", "L3")
# Internal rotation of socket 1 on 3-phase double stations (terminal order, 0-based).
_SOCKET1_OF_DOUBLE = (2, 1, 0)
_STRAIGHT = (0, 1, 2)


def feeder_phases(phase_connected: str) -> tuple[int, ...]:
    """Grid phase index (0 = L1) on each station terminal, from a `Phase-Connected` value."""
    if phase_connected not in PHASE_ROTATIONS:
        raise ValueError(
            f"Phase-Connected {phase_connected!r} is not one of {', '.join(PHASE_ROTATIONS)}"
        )
    return tuple(int(phase_connected[i + 1]) - 1 for i in range(0, len(phase_connected), 2))


def socket_phases(phase_connected: str, socket: int, sockets: int) -> tuple[int, ...]:
    """Grid phase index loaded by the socket's conductor 1, 2, 3 (one entry on 1-phase stations)."""
    feeder = feeder_phases(phase_connected)
    if len(feeder) == 1:
        return feeder
    internal = _SOCKET1_OF_DOUBLE if sockets == 2 and socket == 1 else _STRAIGHT
    return tuple(feeder[i] for i in internal)


def grid_currents(phases: Sequence[int], ev_phases: int, amps: float) -> Triple:
    """Per-grid-phase current (L1, L2, L3) of an EV drawing `amps` on each of its phases."""
    out = [0.0, 0.0, 0.0]
    for phase in phases[: max(0, ev_phases)]:
        out[phase] += amps
    return (out[0], out[1], out[2])


def add(a: Triple, b: Triple) -> Triple:
    """Element-wise sum of two per-phase triples."""
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])
