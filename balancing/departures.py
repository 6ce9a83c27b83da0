"""Departure-aware sharing (issue 11, item 9): serve first the EVs that would miss their departure.

A session may say when the EV leaves (`Session.departure_at`) and how much energy it still needs
(`Session.energy_to_go_kwh`). From these its **needed current** follows: the current per phase
that delivers the rest by the departure at a constant rate, with a margin (`NEED_MARGIN`) for
the ramp, sampling and an EV that draws a little less than offered.

Admission is untouched (who charges at all, alternating turns and their promise, minimums), and
so is every limit. Only the filling above the minimums changes:

1. the policy shares as usual; a session whose needed current is above what it got there would
   miss its departure: it is **at risk**. Without any, the usual result stands;
2. the sessions at risk rise first, earliest departure first (EDF; those that cannot make it
   even at their own maximum last, except under `max-energy`), each up to its needed current,
   while everyone else is held at their minimum (the fairness floor);
3. from there, everybody fills by the site's sharing policy.

So only a session that would otherwise miss its departure gets more, taken from the others'
share above their minimums; a need that cannot be met gets all it can. Sessions leaving at the
same time share max-min fair up to their needs.

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
MAX_TIERS = 8
"""Fillings for the sessions at risk, by departure; later departures share the last one."""
LAST_MINUTE_S = 60.0
"""Closer to the departure than this, a session with energy to go needs all it can get."""
_EPS = 1e-6
_HOPELESS = 10**9  # deci-amps: no time left


def needed_current_a(energy_kwh: float, seconds_left: float, phases: int) -> float:
    """Current per phase that delivers `energy_kwh` over `phases` phases in `seconds_left`
    (at `VOLTAGE_V`, without the margin); infinite when no time is left."""
    if energy_kwh <= 0:
        return 0.0
    if seconds_left <= 0:
        return math.inf
    return energy_kwh * 1000.0 * 3600.0 / (VOLTAGE_V * max(1, phases) * seconds_left)


def needs_d(
    sessions: Sequence[Session], phase_counts: Sequence[int], now: float
) -> list[int] | None:
    """Each session's needed current in deci-amps with the margin (0: no need or none given;
    above its cap when even its own maximum cannot get it there); None when no session has one
    (the usual case: nothing changes)."""
    out: list[int] | None = None
    for i, s in enumerate(sessions):
        at, kwh = s.departure_at, s.energy_to_go_kwh
        if at is None or kwh is None or kwh <= 0:
            continue
        left = at - now
        amps = math.inf if left < LAST_MINUTE_S else needed_current_a(kwh, left, phase_counts[i])
        need = (
            _HOPELESS
            if amps * NEED_MARGIN * 10 >= _HOPELESS
            else math.ceil(amps * NEED_MARGIN * 10)
        )
        if need > 0:
            if out is None:
                out = [0] * len(sessions)
            out[i] = need
    return out


DEFER_PERIODS = 2
"""A session that told its departure yields its turn while its slack is at least this many
alternating periods (see `deferral_order`)."""


def slack_s(
    energy_kwh: float | None, departure_at: float | None, cap_a: float, phases: int, now: float
) -> float | None:
    """Seconds a session could still wait and then make its departure at its own maximum
    current (`cap_a` per phase on `phases` phases); None without a departure and energy need,
    negative when even its maximum from now on cannot get it there."""
    if departure_at is None or energy_kwh is None or energy_kwh <= 0:
        return None
    if cap_a <= 0:
        return -math.inf
    return departure_at - now - energy_kwh * 1000.0 * 3600.0 / (VOLTAGE_V * max(1, phases) * cap_a)


def deferred(slack: float | None, period: float) -> bool:
    """Whether a session with this slack yields its turn (`deferral_order`)."""
    return slack is not None and slack >= DEFER_PERIODS * period


def deferral_order(order: Sequence[int], slack: Sequence[float | None], period: float) -> list[int]:
    """The admission order with the sessions that can wait put last (Least Laxity First).

    When not everyone fits, a session that told its departure and energy need and would still
    make it after waiting `DEFER_PERIODS` alternating periods more (its `slack`) yields its
    turn: the others keep their queue order in front (the alternating promise holds among them,
    and for every session that told nothing), then the deferred ones follow, the least slack
    first in whole periods (ties keep the queue order, so the order does not flap from second
    to second). A deferred session comes forward as its slack shrinks, so it still gets there;
    it charges meanwhile whenever the ones in front leave room. Without any departure told the
    order is unchanged.
    """
    bucket: dict[int, int] = {}
    for i in order:
        sl = slack[i]
        if sl is not None and deferred(sl, period):
            bucket[i] = math.floor(sl / period)
    if not bucket:
        return list(order)
    front = [i for i in order if i not in bucket]
    return front + sorted(bucket, key=lambda i: (bucket[i], order.index(i)))


def share_with_departures(
    p: Problem[L],
    ix: Index,
    adm: Admission,
    sharing: Sharing,
    phases: Sequence[int],
    need: Sequence[int],
    departure: Sequence[float | None],
) -> tuple[list[float], list[int], list[float] | None]:
    """`policy.share` with the sessions that would miss their departure served first (see the
    module docstring). Returns what `share` returns; the loads only when the policy gives them.

    At risk is an admitted session whose needed current is above what the policy alone gives
    it. The sessions at risk are served earliest departure first (EDF: with one shared limit,
    if any order gets every EV there in time, this one does), those leaving at the same time
    together (max-min fair up to their needs), in at most `MAX_TIERS` fillings; each filling
    starts from what the ones before took, with everybody else at their minimum.
    """
    plain = share(p, ix, adm, sharing, phases)
    x0 = plain[0]
    risk = [
        i
        for i, (ok, n) in enumerate(zip(adm.admitted, need, strict=True))
        if ok and n > int(x0[i] + _EPS)
    ]
    if not risk:
        return plain
    # Those that cannot make it even at their own maximum come last: served first they would
    # take what lets the others make it, and miss anyway. Not under max-energy, whose purpose
    # is energy: what one leaving first does not take now, one leaving later can take after it.
    hopeless = [need[i] > p.cap[i] and sharing is not Sharing.MAX_ENERGY for i in range(len(need))]
    risk.sort(key=lambda i: (hopeless[i], departure[i] or math.inf, p.rank[i]))
    tiers: list[list[int]] = []
    for i in risk:
        last = tiers[-1][0] if tiers else -1
        if tiers and (
            len(tiers) == MAX_TIERS
            or (departure[last] == departure[i] and hopeless[last] == hopeless[i])
        ):
            tiers[-1].append(i)
        else:
            tiers.append([i])
    floor, used = p.floor[:], adm.used[:]
    capped = [min(c, n) for c, n in zip(p.cap, need, strict=True)]
    first_bind = {}
    for tier in tiers:
        members = [False] * len(floor)
        for i in tier:
            members[i] = True
        q = Problem(
            floor, capped, p.cap_label, p.rank, p.c_cap, p.c_label, p.c_members, p.c_weights
        )
        x1, bind1, _ = fill_with_loads(q, ix, members, used)
        for i in tier:
            first_bind[i] = bind1[i]
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
    for i, b in first_bind.items():
        if bind[i] < 0 and x[i] < p.cap[i] - _EPS:
            bind[i] = b  # held at what it got in its tier by the constraint that filled there
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
