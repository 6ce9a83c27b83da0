"""What the balancer remembers between runs, as an immutable value.

`allocate()` takes a `BalancerState` and returns the next one inside its `Allocation`; the caller
keeps it and passes it back. Nothing else is remembered, so the same inputs always give the same
result and a run can be replayed from a recorded state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from .model import SocketKey

if TYPE_CHECKING:
    from .phases import Phase
    from .result import Binding, SocketAllocation


class SocketState(NamedTuple):
    """Per-session memory; it is dropped when the session ends and reset when a new one starts.

    A NamedTuple rather than a frozen dataclass: one is built per session per run, and at
    10,000 sessions the dataclass constructor alone would cost ~10 ms.
    """

    started_at: float
    """Identifies the session this state belongs to."""
    limit_a: float = 0.0
    """The limit given last time (the ramp starts from it; "offered" for the demand rule)."""
    ev_phases: tuple[int, ...] | None = None
    """EV phases (1..3) the EV was measured to use; None = not known yet (assume all)."""
    narrower: tuple[int, ...] | None = None
    narrower_since: float | None = None
    """A narrower phase set being measured since then (adopted after `phase_detect_s`)."""
    under_since: float | None = None
    """Since when the EV draws more than the threshold less than offered."""
    demand_cap_a: float | None = None
    """Offer lowered to what the EV draws (plus headroom); None = no such cap."""
    pv_on: bool = False
    pv_since: float | None = None
    """Since when the PV condition differs from `pv_on` (start hold / stop delay)."""
    alternating_paused: bool = False
    """Paused last run so that others could charge: moves to the front at the next swap."""
    waiting_since: float | None = None
    """Since when it waits for its turn (alternating pause); the longest waiting go first."""
    charging_since: float | None = None
    """Since when it has had a limit above 0 without a break; None while paused."""
    served_s: float = 0.0
    """Time it had a limit above 0 in this session, up to `charging_since`."""
    idle_since: float | None = None
    """Since when it draws < 1 A (or is suspended) although offered at least its minimum."""
    released_at: float | None = None
    """When it gave its share back for not drawing; None while it takes part."""
    pv_phases: int = 0
    """Phases it was counted with against the PV surplus when it last started (0: off)."""


_EMPTY: Mapping[SocketKey, SocketState] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BalancerState:
    """Everything carried from one run to the next. `BalancerState()` is the initial state."""

    at: float | None = None
    """Time of the previous run."""
    sockets: Mapping[SocketKey, SocketState] = field(default_factory=lambda: _EMPTY, hash=False)
    """Per-session memory by socket (a read-only mapping)."""
    queue: tuple[SocketKey, ...] = ()
    """Alternating order: the first sockets are served first."""
    period_since: float | None = None
    """Start of the current alternating period; None while nobody waits for a turn."""
    safe_mode: bool = False
    turn_s: float | None = None
    """Length of the current alternating turn: the period, shortened when more wait than one
    turn can serve, so that nobody waits more than one period (see `alternation.turn_length`)."""
    last: LastResults | None = field(default=None, compare=False, repr=False)
    """The results of the run that made this state. Not part of its value (not compared, not
    shown, not needed): the next run reuses those that come out the same instead of building
    them again, which at 10,000 sessions saves much of its time and garbage-collector work."""


class LastResults(NamedTuple):
    """A run's results, and what they were made of as columns the next run compares in C."""

    sockets: tuple[SocketAllocation, ...]
    keys: list[SocketKey]
    limit: list[int]
    """Deci-amps, like `target` and `floor`."""
    target: list[int]
    floor: list[int]
    phases: list[tuple[Phase, ...]]
    binding: list[Binding]
