"""Sharing, and under `max-energy` the EVs that yield for throughput (issue 11, item 6).

`share_site` runs the site's policy (with departures when some session told one, see
`departures.py`). Under `max-energy` it then asks whether pausing some admitted EVs would let the
site deliver clearly more: a 1-phase EV held at its minimum on a phase where a 3-phase EV is held
back by that same phase costs the site three ampere-phases of the 3-phase EV for every ampere it
takes there, and delivers one. Such an EV **yields** (limit 0, `LimitSource.YIELDING`) while

* the phase (or circuit) it yields on is full and an EV on more phases is frozen by it, with room
  on its other phases and below its own cap to take what the yielding EV frees (an estimate from
  the filling, so the check costs one more admission and filling only when someone may yield),
* the whole change, run again exactly (admission in queue order and the policy's filling), raises
  the site's total (Σ phases × current) by at least `YIELD_GAIN` × what the yielding EVs had,
* it told no departure and energy need still to get (one that did is served by its departure).

It comes back at the first run where this no longer holds: the EV on more phases is at its cap
(full, demand-capped, or its other phases are full) or left. A yielding EV does not wait for a
turn (it is not alternating; the turn's promise is not about it).

With departures, a session deferred for its departure (it can wait, `departures.deferral_order`)
also yields its minimum where it holds back a session that cannot wait and is below its needed
current, on as many phases or more, if that one can take at least half of it; the site's total
must not fall, nor any other session with a need end further below it. `equal-current` and
`equal-power` are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from .departures import share_with_departures
from .model import Sharing
from .policy import share
from .waterfill import Admission, Index, Problem, admit

L = TypeVar("L")

YIELD_GAIN = 0.5
"""Pausing EVs for throughput must raise the site's total ampere-phases by at least this share
of what those EVs had (1-phase EV at 6 A beside a 3-phase one: 6 A·phases lost, up to 18 won)."""
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Shared:
    """The sharing of one run: admission, currents (deci-amps, floats), the constraint that froze
    each socket, the loads when known (for `finalize`), and who yields: socket → (the constraint
    it yields on, to whom)."""

    adm: Admission
    x: list[float]
    bind: list[int]
    loads: list[float] | None
    yielded: dict[int, tuple[int, str]]


def share_site(
    p: Problem[L],
    ix: Index,
    order: list[int],
    candidate: list[bool],
    sharing: Sharing,
    phases: Sequence[int],
    need: Sequence[int] | None,
    departure: Sequence[float | None],
    may_yield: Sequence[bool] | None,
    can_wait: Sequence[bool] | None = None,
) -> Shared:
    """Admit in `order`, share by `sharing` (departures first when `need` is given), and under
    `max-energy` let the EVs in `may_yield` that hold a phase back from EVs on more phases
    yield, and the EVs in `can_wait` (deferred for their departure) that hold it back from EVs
    on as many phases or more short of their need (see the module docstring). `phases[i]` is
    the number of grid phases socket i loads."""
    adm = admit(p, ix, order, candidate)
    x, bind, loads = _share(p, ix, adm, sharing, phases, need, departure)
    if sharing is not Sharing.MAX_ENERGY or may_yield is None:
        return Shared(adm, x, bind, loads, {})
    short = None if need is None else [n > int(v + _EPS) for n, v in zip(need, x, strict=True)]
    chosen = _worth_yielding(p, ix, adm, x, bind, phases, may_yield, order, None)
    if short is not None and can_wait is not None:  # to those short that cannot wait
        hurry = [s and not w for s, w in zip(short, can_wait, strict=True)]
        for i, why in _worth_yielding(p, ix, adm, x, bind, phases, can_wait, order, hurry).items():
            chosen.setdefault(i, why)
    if not chosen:
        return Shared(adm, x, bind, loads, {})
    kept = candidate[:]
    for i in chosen:
        kept[i] = False
    adm2 = admit(p, ix, order, kept)
    x2, bind2, loads2 = _share(p, ix, adm2, sharing, phases, need, departure)
    lost = sum(phases[i] * int(x[i] + _EPS) for i in chosen if may_yield[i])
    if _total(x2, adm2.admitted, phases) - _total(x, adm.admitted, phases) < YIELD_GAIN * lost:
        return Shared(adm, x, bind, loads, {})
    if need is not None and _shortfall(need, x2, chosen) > _shortfall(need, x, chosen):
        return Shared(adm, x, bind, loads, {})
    return Shared(adm2, x2, bind2, loads2, chosen)


def _shortfall(need: Sequence[int], x: Sequence[float], but: dict[int, tuple[int, str]]) -> int:
    """How far the sessions with a need (except `but`) are below it, in deci-amps."""
    pairs = enumerate(zip(need, x, strict=True))
    return sum(max(0, n - int(v + _EPS)) for i, (n, v) in pairs if i not in but)


def _share(
    p: Problem[L],
    ix: Index,
    adm: Admission,
    sharing: Sharing,
    phases: Sequence[int],
    need: Sequence[int] | None,
    departure: Sequence[float | None],
) -> tuple[list[float], list[int], list[float] | None]:
    if need is None:
        return share(p, ix, adm, sharing, phases)
    return share_with_departures(p, ix, adm, sharing, phases, need, departure)


def _total(x: Sequence[float], admitted: Sequence[bool], phases: Sequence[int]) -> int:
    """Σ phases × current (deci-amps, as `finalize` will round them) of the admitted sockets."""
    return sum(k * int(v + _EPS) for v, ok, k in zip(x, admitted, phases, strict=True) if ok)


def _worth_yielding(
    p: Problem[L],
    ix: Index,
    adm: Admission,
    x: list[float],
    bind: list[int],
    phases: Sequence[int],
    may_yield: Sequence[bool],
    order: Sequence[int],
    short: Sequence[bool] | None,
) -> dict[int, tuple[int, str]]:
    """The EVs whose current, given up, the EVs on more phases frozen by a shared constraint
    could take (an estimate: each frozen EV's room below its cap and on its other constraints,
    shared out to the yielding EVs last in the queue first); each must win more than it loses.

    With `short` (the sessions below their need that cannot wait): the EVs whose current the
    short sessions on as many phases or more frozen by a shared constraint could take, at least
    half of it."""
    admitted, c_cap, plain, weighted = adm.admitted, p.c_cap, ix.plain, ix.weighted
    load = _loads(p, x, admitted)
    # Per full constraint: (phase count, room) of the EVs on more than one phase it froze.
    pool: dict[int, list[list[int]]] = {}
    for j, b in enumerate(bind):
        if b < 0 or not admitted[j] or p.c_weights[b] is not None:
            continue
        if (phases[j] < 2) if short is None else not short[j]:
            continue
        room = p.cap[j] - int(x[j] + _EPS)
        for c in plain[j]:
            if c != b:
                room = min(room, c_cap[c] - int(load[c] + _EPS))
        for c, w in weighted[j]:
            room = min(room, (c_cap[c] - int(load[c] + _EPS)) // w)
        if room > 0:
            pool.setdefault(b, []).append([phases[j], room])
    if not pool:
        return {}
    chosen: dict[int, tuple[int, str]] = {}
    least = 1 if short is None else 0  # phases more than the yielding EV's, at least
    for i in reversed(order):  # the last in the queue yields first
        if not admitted[i] or not may_yield[i]:
            continue
        gives, k = int(x[i] + _EPS), phases[i]
        for c in plain[i]:
            takers = [t for t in pool.get(c, ()) if t[0] >= k + least]
            if not takers:
                continue
            takers.sort(key=lambda t: -t[0])
            left, won = gives, 0
            for t in takers:
                a = min(left, t[1])
                t.append(a)
                left, won = left - a, won + t[0] * a
            if short is None and won - k * gives <= YIELD_GAIN * k * gives:
                continue
            if short is not None and 2 * (gives - left) < gives:
                continue
            for t in takers:
                t[1] -= t.pop()
            to = f"a {takers[0][0]}-phase EV" if short is None else "an EV short of its departure"
            chosen[i] = (c, to)
            break
    return chosen


def _loads(p: Problem[L], x: Sequence[float], admitted: Sequence[bool]) -> list[float]:
    """Σ weight · current over the admitted members of each constraint."""
    out = []
    for members, ws in zip(p.c_members, p.c_weights, strict=True):
        if ws is None:
            out.append(sum(x[i] for i in members if admitted[i]))
        else:
            out.append(sum(w * x[i] for i, w in zip(members, ws, strict=True) if admitted[i]))
    return out
