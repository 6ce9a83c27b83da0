"""Departure-aware sharing (issue 11, item 9): serve first the EVs that would miss their departure.

A session may say when the EV leaves (`Session.departure_at`) and how much energy it still needs
(`Session.energy_to_go_kwh`). From these its **needed current** follows: the current per phase
that delivers the rest by the departure at a constant rate, with a margin (`NEED_MARGIN`) for
the ramp, sampling and an EV that draws a little less than offered.

Admission is untouched (who charges at all, alternating turns and their promise, minimums), and
so is every limit. Only the filling above the minimums changes, in two stages:

1. the admitted sessions with a need rise first, max-min fair among themselves, each up to its
   needed current; everyone else is held at their minimum (the fairness floor);
2. from there, everybody fills by the site's sharing policy.

A session whose needed current is at most what the policy gives it anyway ends where it would
have ended without a departure (in stage 2 it rises with the others from a lower start). Only a
session that would otherwise miss its departure gets more, taken from the sessions without a
need above their minimums. With several such sessions on a tight constraint they share it
max-min fair up to their needs: a need that cannot be met gets as much as is fair, not all.

`forecast` says whether a session will make it at its current limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from .filling import fill_with_loads
from .model import Session, Sharing
from .policy import share
from .waterfill import Admission, Index, Problem

L = TypeVar("L")

VOLTAGE_V = 230.0
"""Phase-to-neutral voltage for turning energy into current (EN 50160 nominal)."""
NEED_MARGIN = 1.1
"""The needed current is raised this much: ramps, sampling, an EV drawing a little less."""
LAST_MINUTE_S = 60.0
"""Closer to the departure than this, a session with energy to go needs all it can get."""
_EPS = 1e-6


def needed_current_a(energy_kwh: float, seconds_left: float, phases: int) -> float:
    """Current per phase that delivers `energy_kwh` over `phases` phases in `seconds_left`
    (at `VOLTAGE_V`, without the margin); infinite when no time is left."""
    if energy_kwh <= 0:
        return 0.0
    if seconds_left <= 0:
        return math.inf
    return energy_kwh * 1000.0 * 3600.0 / (VOLTAGE_V * max(1, phases) * seconds_left)


def needs_d(
    sessions: Sequence[Session], phase_counts: Sequence[int], cap_d: Sequence[int], now: float
) -> list[int] | None:
    """Each session's needed current in deci-amps with the margin, at most its cap (0: no need
    or none given); None when no session has one (the usual case: nothing changes)."""
    out: list[int] | None = None
    for i, s in enumerate(sessions):
        at, kwh = s.departure_at, s.energy_to_go_kwh
        if at is None or kwh is None or kwh <= 0:
            continue
        left = at - now
        amps = math.inf if left < LAST_MINUTE_S else needed_current_a(kwh, left, phase_counts[i])
        need = cap_d[i] if amps == math.inf else min(cap_d[i], math.ceil(amps * NEED_MARGIN * 10))
        if need > 0:
            if out is None:
                out = [0] * len(sessions)
            out[i] = need
    return out


def share_with_departures(
    p: Problem[L],
    ix: Index,
    adm: Admission,
    sharing: Sharing,
    phases: Sequence[int],
    need: Sequence[int],
) -> tuple[list[float], list[int], list[float] | None]:
    """`policy.share` with the sessions that have a need above their floor served first (see the
    module docstring). Returns what `share` returns; the loads only when the policy gives them."""
    first = [ok and n > f for ok, n, f in zip(adm.admitted, need, p.floor, strict=True)]
    if not any(first):
        return share(p, ix, adm, sharing, phases)
    capped = [min(c, n) if t else c for c, n, t in zip(p.cap, need, first, strict=True)]
    stage1 = Problem(
        p.floor, capped, p.cap_label, p.rank, p.c_cap, p.c_label, p.c_members, p.c_weights
    )
    x1, bind1, _ = fill_with_loads(stage1, ix, first, adm.used)
    floor = p.floor[:]
    used = adm.used[:]
    for i in [i for i, t in enumerate(first) if t]:
        rose = int(x1[i] + _EPS) - floor[i]
        if rose > 0:
            floor[i] += rose
            for c in ix.plain[i]:
                used[c] += rose
            for c, w in ix.weighted[i]:
                used[c] += w * rose
    stage2 = Problem(
        floor, p.cap, p.cap_label, p.rank, p.c_cap, p.c_label, p.c_members, p.c_weights
    )
    raised = Admission(adm.admitted, adm.blocked_by, adm.crowded, used)
    x, bind, loads = share(stage2, ix, raised, sharing, phases)
    for i in [i for i, t in enumerate(first) if t]:
        if bind[i] < 0 and x[i] < p.cap[i] - _EPS:
            bind[i] = bind1[i]  # held at its need by what filled in stage 1
    return x, bind, loads


@dataclass(frozen=True, slots=True)
class DepartureForecast:
    """Whether a session gets its energy by its departure at its current limit."""

    departure_at: float
    energy_to_go_kwh: float
    needed_a: float
    """Current per phase needed from now on (without the margin); inf when no time is left."""
    expected_kwh: float
    """What the current limit delivers by the departure (at `VOLTAGE_V`)."""
    on_track: bool


def forecast(
    departure_at: float, energy_to_go_kwh: float, limit_a: float, phases: int, now: float
) -> DepartureForecast:
    """The forecast for a session at `limit_a` per phase on `phases` phases from `now`."""
    left = max(0.0, departure_at - now)
    to_go = max(0.0, energy_to_go_kwh)
    expected = limit_a * VOLTAGE_V * max(1, phases) * left / 3600.0 / 1000.0
    needed = needed_current_a(to_go, left, phases)
    return DepartureForecast(departure_at, to_go, needed, expected, expected + 1e-9 >= to_go)
