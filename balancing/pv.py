"""PV-surplus gate: which sessions may charge from export, with hold times against flapping.

The export budget is the surplus summed over phases (what a net-metering meter bills). Sessions
that are already on keep their share first (stability), in queue order; then sessions that are
off start in queue order if the rest covers their minimum plus the hysteresis. Timers turn the
wish into a decision: an EV starts after its wish has held `start_hold_s` and stops after it has
lacked surplus for `stop_delay_s` (charging at its minimum meanwhile). An EV that started
counted on fewer phases than it turned out to load (not measured yet, so counted as 1-phase) is
`mistaken`: without the surplus for its real phases it stops at once, not after the delay, so a
3-phase EV does not charge from the grid on a 1-phase surplus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model import PvSurplus


@dataclass(frozen=True, slots=True)
class PvCandidate:
    on: bool
    since: float | None
    need_a: float
    """Minimum current × phases it loads (A summed over phases)."""
    phases: int
    mistaken: bool = False
    """On, but started counted on fewer phases than `phases` (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class PvDecision:
    on: bool
    since: float | None
    wanted: bool
    """The surplus covers it right now (before the timers)."""


def pv_gate(
    pv: PvSurplus, candidates: Sequence[PvCandidate], surplus_a: float, now: float
) -> list[PvDecision]:
    """Decide for each candidate (given in queue order) whether it charges from the surplus."""
    budget = surplus_a
    wanted = [False] * len(candidates)
    for keep_pass in (True, False):
        for k, c in enumerate(candidates):
            if c.on != keep_pass:
                continue
            threshold = c.need_a if c.on else c.need_a + pv.hysteresis_a * c.phases
            if budget >= threshold:
                wanted[k] = True
                budget -= c.need_a
    decisions = []
    for c, want in zip(candidates, wanted, strict=True):
        on, since = c.on, c.since
        if want == on:
            since = None
        elif on and c.mistaken:
            on, since = False, None
        else:
            since = now if since is None else since
            if now - since >= (pv.start_hold_s if want else pv.stop_delay_s):
                on, since = want, None
        decisions.append(PvDecision(on, since, want))
    return decisions
