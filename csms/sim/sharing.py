"""How a station divides its maximum current over its sockets (Standard Load Balancing), pure.

The station maximum (min of `Station-MaxCurrent` and a ChargePointMaxProfile) is a per-phase
budget. Sockets share it max-min fairly per grid phase — that is why, thanks to the internal phase
rotation, two 1-phase EVs on a 3-phase double each get the full current (guide 3.1.1.1 scenario E)
while two 3-phase EVs get half each (scenario H). A socket whose EV takes less than its share
leaves the rest to the other socket at once (the real station waits about 3 minutes).

A socket whose offer would fall below its minimum (6 A, or 14 A for an EV detected as needing it)
is paused (offer 0); the lowest connector id is paused first (guide 2.4: the highest socket ids
are served first). Alternating every `SCN-AlternatingPeriod` is not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_EPS = 1e-9
MIN_CURRENT_A = 6.0


@dataclass(frozen=True, slots=True)
class SocketDemand:
    """One socket with a running transaction, as the sharing sees it."""

    connector_id: int
    phases: tuple[int, ...]  # grid phases its EV loads
    cap_a: float  # min(connector max, profile limit, probing current)
    wants_a: float  # what the EV would take (0 when it takes nothing, e.g. full)
    min_a: float = MIN_CURRENT_A


def _fill(budget_a: float, sockets: Sequence[SocketDemand]) -> dict[int, float]:
    """Max-min fair allocation of min(cap, wants) under a per-phase budget."""
    alloc = {s.connector_id: 0.0 for s in sockets}
    load = [0.0, 0.0, 0.0]
    growing = [s for s in sockets if min(s.cap_a, s.wants_a) > _EPS and s.phases]
    while growing:
        step = min(min(s.cap_a, s.wants_a) - alloc[s.connector_id] for s in growing)
        for phase in range(3):
            users = sum(1 for s in growing if phase in s.phases)
            if users:
                step = min(step, (budget_a - load[phase]) / users)
        step = max(0.0, step)
        for s in growing:
            alloc[s.connector_id] += step
            for phase in s.phases:
                load[phase] += step
        saturated = {p for p in range(3) if load[p] >= budget_a - _EPS}
        growing = [
            s
            for s in growing
            if alloc[s.connector_id] < min(s.cap_a, s.wants_a) - _EPS
            and not saturated.intersection(s.phases)
        ]
    return alloc


def share(budget_a: float, sockets: Sequence[SocketDemand]) -> dict[int, float]:
    """The current offered to each socket (0 = paused) under a per-phase station budget."""
    active = sorted(sockets, key=lambda s: s.connector_id)
    offered = {s.connector_id: 0.0 for s in sockets}
    while True:
        alloc = _fill(budget_a, active)
        load = [0.0, 0.0, 0.0]
        for s in active:
            for phase in s.phases:
                load[phase] += alloc[s.connector_id]
        result = {}
        for s in active:
            spare = min((budget_a - load[p] for p in s.phases), default=0.0)
            result[s.connector_id] = min(s.cap_a, alloc[s.connector_id] + max(0.0, spare))
        # An EV that takes nothing does not need its minimum; any other socket below its
        # minimum is paused, the lowest id first, and the rest shared again.
        short = [s for s in active if s.wants_a > _EPS and result[s.connector_id] < s.min_a - _EPS]
        if not short:
            # An offer below the minimum is no offer (the EV could not charge on it).
            offered.update(
                {c: (a if a >= MIN_CURRENT_A - _EPS else 0.0) for c, a in result.items()}
            )
            return offered
        active = [s for s in active if s is not short[0]]
