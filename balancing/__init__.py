"""Pure, deterministic load balancing for EV charging sites (no I/O, `now` is an argument).

One entry point::

    allocation = allocate(site, reading, sessions, state, now)
    state = allocation.state          # pass it back next time

* `Site` is a tree of limits: the grid connection (per-phase limit − margin) → optional circuits →
  stations (`Station-MaxCurrent`, shared by their sockets) → sockets (connector max) → EVs.
* The available current per phase comes from the grid meter: limit − margin − (meter − our EVs);
  export raises it. A stale meter switches to safe mode (`safe_current_a` for all EVs together).
* Phase rotation maps each EV's phases to grid phases, so a 1-phase EV only competes on its phase;
  an EV of unknown phases is probed on the phase every EV uses when another phase lacks room.
* Sessions share max-min fairly (water-filling) in current, in power or most phases first
  (`Site.sharing`); current an EV cannot or does not use goes to the others; an EV that stops
  drawing gives its share back; each gets 0 or at least its minimum (6 A, or 14 A for EVs that
  need it); when that is not possible for everyone, sessions alternate, Alfen's order first, and
  nobody waits more than `alternating_period_s` for a turn.
* PV-surplus mode charges from export only, with start hold, stop delay and hysteresis.
* Increases are ramped; decreases apply at once.
* Every `SocketAllocation` names its binding constraint (`Binding(LimitSource, detail)`).

See `docs/balancing.md` for the algorithm and the Alfen behaviour it reproduces.
"""

from .core import allocate
from .model import (
    Circuit,
    GridReading,
    Mode,
    PvSurplus,
    ReadingLike,
    Session,
    Sharing,
    Site,
    Socket,
    SocketKey,
    Station,
    TimeWindow,
)
from .phases import (
    ROTATION_CODES,
    ROTATION_NAMES,
    ROTATIONS,
    Phase,
    PhaseRotation,
    compose,
    phase_rotation,
)
from .result import Allocation, Binding, LimitSource, SocketAllocation
from .state import BalancerState, SocketState

__all__ = [
    "ROTATIONS",
    "ROTATION_CODES",
    "ROTATION_NAMES",
    "Allocation",
    "BalancerState",
    "Binding",
    "Circuit",
    "GridReading",
    "LimitSource",
    "Mode",
    "Phase",
    "PhaseRotation",
    "PvSurplus",
    "ReadingLike",
    "Session",
    "Sharing",
    "Site",
    "Socket",
    "SocketAllocation",
    "SocketKey",
    "SocketState",
    "Station",
    "TimeWindow",
    "allocate",
    "compose",
    "phase_rotation",
]
