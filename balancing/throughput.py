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
    could take, if together they win more than they lose: an estimate. Per constraint, the EVs
    that may yield there, the last in the queue first, while the frozen EVs have room for what
    they free (below their caps, and their equal shares of their other constraints' room); they
    rise together (water-filling) by 0.1 A steps, so what is freed is split among all of them.
    Not an EV on a constraint someone waits on: admission would give the room to them first.

    With `short` (the sessions below their need that cannot wait): the takers are those, on as
    many phases or more, and must be able to take at least half of what is freed."""
    admitted, c_cap, plain, weighted = adm.admitted, p.c_cap, ix.plain, ix.weighted
    waited_on = set(adm.blocked_by)
    load = _loads(p, x, admitted)
    rem = [cap - int(v + _EPS) for cap, v in zip(c_cap, load, strict=True)]
    # Per full constraint: (phases, room) of the EVs it froze that could take more; the room on
    # each of their other constraints shared equally by those of them on it.
    frozen = [
        j
        for j, b in enumerate(bind)
        if b >= 0
        and admitted[j]
        and b not in waited_on
        and p.c_weights[b] is None
        and (phases[j] > 1 if short is None else short[j])
    ]
    users = [0] * len(c_cap)
    for j in frozen:
        for d in plain[j]:
            users[d] += 1
        for d, _ in weighted[j]:
            users[d] += 1
    pool: dict[int, list[tuple[int, int]]] = {}
    for j in frozen:
        b = bind[j]
        room = p.cap[j] - int(x[j] + _EPS)
        for d in plain[j]:
            if d != b:
                room = min(room, rem[d] // users[d])
        for d, w in weighted[j]:
            room = min(room, rem[d] // (w * users[d]))
        if room > 0:
            pool.setdefault(b, []).append((phases[j], room))
    if not pool:
        return {}
    least = 1 if short is None else 0  # phases more than the yielding EV's, at least
    groups: dict[tuple[int, int], list[int]] = {}
    for i in reversed(order):  # the last in the queue yields first
        if admitted[i] and may_yield[i] and waited_on.isdisjoint(plain[i]):
            c = next((c for c in plain[i] if c in pool), -1)
            if c >= 0:
                groups.setdefault((c, phases[i]), []).append(i)
    chosen: dict[int, tuple[int, str]] = {}
    for (c, k), members in groups.items():
        takers = [t for t in pool[c] if t[0] >= k + least]
        room = sum(r for _, r in takers)
        picked, freed = [], 0
        for i in members:
            if freed >= room:
                break
            picked.append(i)
            freed += int(x[i] + _EPS)
        share = freed // len(takers) if takers else 0
        took = [(n, min(share, r)) for n, r in takers]
        won, absorbed = sum(n * a for n, a in took), sum(a for _, a in took)
        if short is None and won - k * freed <= YIELD_GAIN * k * freed:
            continue
        if short is not None and 2 * absorbed < freed:
            continue
        to = f"a {max(takers)[0]}-phase EV" if short is None else "an EV short of its departure"
        for i in picked:
            chosen[i] = (c, to)
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
