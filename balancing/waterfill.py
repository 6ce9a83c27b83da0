"""Max-min fair sharing under a set of linear limits, with a minimum per socket ("water-filling").

The numeric core, independent of sites and sessions. Sockets are indices 0..n-1. Each has a
floor (its minimum current), a cap (the lowest of its own limits) and a priority rank. Each
constraint says: the weighted sum of its members' currents ≤ its capacity. Grid phases, circuits
and stations are constraints with weight 1 per member on that phase; the safe-mode total and the
PV-surplus budget are constraints too (PV weighs a socket by the number of phases it loads).

All capacities, floors and caps are integers in deci-amps (0.1 A), so admission, the final
rounding and the safety check are exact integer arithmetic; only the filling itself uses floats.

1. `simplify`: a constraint with a single member is only a cap on it; a constraint that cannot be
   exceeded even with every member at its cap is dropped; of constraints with the same members and
   weights only the tightest is kept. This keeps n·d small (d = constraints per socket). A `Memo`
   lets a series of problems with the same constraints redo only what their changes affect.
2. `admit`: in priority order, a socket is admitted if its floor still fits in every constraint
   it belongs to; otherwise it is paused (this is what alternates when power is short).
3. `fill` (in `filling.py`): progressive filling. A common level t rises; every admitted socket
   carries clamp(t, floor, cap). When a constraint fills up, its sockets freeze there and the
   level keeps rising for the others, so capacity a capped or frozen socket does not use goes to
   the rest. Events (a socket starts rising at its floor, stops at its cap, a constraint fills)
   are taken in order from sorted lists and a heap, so the cost is O(n·d·log n); sockets that
   start or stop together are one batch, and constraints the floors already fill freeze their
   members before anything starts (the same result as filling them, with less work).
4. `finalize`: round down to 0.1 A and check in integers every kept constraint the rounding could
   push over; if float error ever left a sum 0.1 A over, the lowest-priority sockets give it back.
   The result provably satisfies every constraint, whatever the filling did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import mul, ne
from typing import Generic, NamedTuple, TypeVar

from .filling import INF, fill, fill_with_loads

__all__ = [
    "INF",
    "Admission",
    "Index",
    "Memo",
    "Problem",
    "admit",
    "fill",
    "fill_with_loads",
    "finalize",
    "index_of",
    "simplify",
]

L = TypeVar("L")

_EPS = 1e-6  # deci-amps: float noise far below the 0.1 A resolution


@dataclass(slots=True)
class Problem(Generic[L]):
    """A sharing problem; fields are parallel lists over sockets and over constraints.

    Labels (of type L) are carried along untouched to say what bound each socket.
    """

    floor: list[int]
    """Minimum of each socket, deci-amps (> 0)."""
    cap: list[int]
    """Upper bound of each socket, deci-amps; may fall below the floor (then it cannot charge)."""
    cap_label: list[L]
    """What set each socket's cap."""
    rank: list[int]
    """Priority: a lower rank is served first when not everyone fits."""
    c_cap: list[int] = field(default_factory=list)
    c_label: list[L] = field(default_factory=list)
    c_members: list[list[int]] = field(default_factory=list)
    c_weights: list[list[int] | None] = field(default_factory=list)
    """None = weight 1 for every member; weights are > 0."""

    def add(self, cap: int, label: L, members: list[int], weights: list[int] | None = None) -> None:
        """Add the constraint Σ weight·current(member) ≤ cap (deci-amps, clamped at 0)."""
        if members:
            self.c_cap.append(max(cap, 0))
            self.c_label.append(label)
            self.c_members.append(members)
            self.c_weights.append(weights)

    def bound(self, i: int, cap: int, label: L) -> None:
        """Lower socket i's cap to `cap` if that is tighter (a constraint with one member)."""
        if cap < self.cap[i]:
            self.cap[i] = max(cap, 0)
            self.cap_label[i] = label


@dataclass(slots=True)
class Index:
    """For each socket, the constraints it belongs to (unweighted, and weighted with weights)."""

    plain: list[list[int]]
    weighted: list[Sequence[tuple[int, int]]]
    """A shared empty tuple for the sockets in no weighted constraint (most of them)."""
    any_weighted: bool = False
    """Whether there is a weighted constraint at all: if not, the loops skip `weighted`."""


def simplify(p: Problem[L], memo: Memo[L] | None = None) -> tuple[Problem[L], Index]:
    """Fold single-member constraints into caps, drop slack ones, keep one of equal member sets.

    `memo` is for a caller that passes problems with the same constraints (members, weights and
    labels, in the same order) run after run, with other capacities and caps: when the caps
    and the single-member constraints are as last time, only the constraints whose capacity
    changed are looked at again (see `Memo`).
    """
    if memo is not None:
        found = memo.again(p)
        if found is not None:
            q = found.problem(p)
            return q, memo.index(q, found.kept)
    cap, cap_label = p.cap[:], p.cap_label[:]
    c_cap, c_members, c_weights = p.c_cap, p.c_members, p.c_weights
    keep: list[int] = []
    for c, members in enumerate(c_members):
        if len(members) == 1:
            i = members[0]
            weights = c_weights[c]
            bound = c_cap[c] // (1 if weights is None else weights[0])
            if bound < cap[i]:
                cap[i], cap_label[i] = bound, p.c_label[c]
        else:
            keep.append(c)
    kept = _tightest_of_each(p, keep, cap)
    if memo is not None:
        found = memo.remember(p, cap, cap_label, kept)
        q = found.problem(p)
        return q, memo.index(q, kept)
    q = Problem(
        p.floor,
        cap,
        cap_label,
        p.rank,
        [c_cap[c] for c in kept],
        [p.c_label[c] for c in kept],
        [c_members[c] for c in kept],
        [c_weights[c] for c in kept],
    )
    return q, _index(q)


class Memo(Generic[L]):
    """What `simplify` found for the last problem of a series with the same constraints.

    When the next one has the same caps (and cap labels) and only some constraints have another
    capacity (a control loop: the grid headroom moves every run, the rest rarely), the folded
    caps are the same and so is the fate of every other constraint: only the changed ones (and
    their twins, constraints with the same members) are checked again for whether they can
    bind and which of the twins is tightest. A changed single-member constraint (a cap) makes
    `simplify` start over. The findings are one immutable record, replaced as a whole, so
    concurrent callers at worst redo some work.
    """

    __slots__ = ("indexes", "last")

    def __init__(self) -> None:
        self.last: _Found[L] | None = None
        self.indexes: dict[tuple[int, ...], Index] = {}

    def remember(
        self, p: Problem[L], cap: list[int], cap_label: list[L], kept: list[int]
    ) -> _Found[L]:
        """Keep the inputs and findings of a full `simplify` of `p`."""
        found = _Found(p.cap[:], p.cap_label[:], p.c_cap[:], cap, cap_label, kept, _twins(p))
        self.last = found
        return found

    def again(self, p: Problem[L]) -> _Found[L] | None:
        """What `simplify` finds for `p`, worked out from the last, or None when that needs a
        full `simplify`."""
        last = self.last
        if last is None or p.cap != last.cap_in or p.cap_label != last.label_in:
            return None
        c_cap, c_members, c_weights = p.c_cap, p.c_members, p.c_weights
        if len(c_cap) != len(last.c_cap):
            return None
        changed = list(compress(count(), map(ne, c_cap, last.c_cap)))
        if not changed:
            return last
        cap, kept = last.cap, set(last.kept)
        for c in changed:
            members, weights = c_members[c], c_weights[c]
            if len(members) == 1:
                return None
            ws = repeat(1) if weights is None else weights
            total = sum(map(mul, map(cap.__getitem__, members), ws))  # the same for its twins
            best = -1
            for t in last.twins.get(c, (c,)):  # the first of the tightest that can bind
                kept.discard(t)
                if total > c_cap[t] and (best < 0 or c_cap[t] < c_cap[best]):
                    best = t
            if best >= 0:
                kept.add(best)
        same = len(kept) == len(last.kept) and kept.issuperset(last.kept)
        found = last._replace(c_cap=c_cap[:], kept=last.kept if same else sorted(kept))
        self.last = found
        return found

    def index(self, q: Problem[L], kept: list[int]) -> Index:
        """`q`'s socket index, remembered for the last few sets of kept constraints."""
        key = tuple(kept)
        index = self.indexes.get(key)
        if index is None:
            if len(self.indexes) >= 4:
                self.indexes.clear()
            index = self.indexes[key] = _index(q)
        return index


class _Found(NamedTuple, Generic[L]):
    cap_in: list[int]
    """The caps `simplify` was given, and their labels."""
    label_in: list[L]
    c_cap: list[int]
    """The capacities it was given."""
    cap: list[int]
    """The caps after folding the single-member constraints, and their labels."""
    cap_label: list[L]
    kept: list[int]
    twins: dict[int, list[int]]

    def problem(self, p: Problem[L]) -> Problem[L]:
        """The simplified problem: `p`'s floors and ranks, the folded caps, the kept constraints."""
        kept = self.kept
        return Problem(
            p.floor,
            self.cap[:],
            self.cap_label[:],
            p.rank,
            [p.c_cap[c] for c in kept],
            [p.c_label[c] for c in kept],
            [p.c_members[c] for c in kept],
            [p.c_weights[c] for c in kept],
        )


def _twins(p: Problem[L]) -> dict[int, list[int]]:
    """For each constraint with more than one member that has twins (others with the same
    members and weights), all of them in order."""
    n = len(p.floor)
    c_members, c_weights = p.c_members, p.c_weights
    by_shape: dict[int, list[list[int]]] = {}
    for c, members in enumerate(c_members):
        if len(members) < 2:
            continue
        groups = by_shape.setdefault((len(members) * n + members[0]) * n + members[-1], [])
        for group in groups:
            if c_members[group[0]] == members and c_weights[group[0]] == c_weights[c]:
                group.append(c)
                break
        else:
            groups.append([c])
    return {c: g for groups in by_shape.values() for g in groups if len(g) > 1 for c in g}


def _tightest_of_each(p: Problem[L], keep: list[int], cap: list[int]) -> list[int]:
    """Of `keep`, those that can bind (the members' caps exceed the capacity), only the tightest
    of those with equal members and weights, in their original order.

    Equal member lists are found through their shape (size, first, last member), so only lists
    of the same shape are compared, rather than hashing every member list.
    """
    c_cap, c_members, c_weights = p.c_cap, p.c_members, p.c_weights
    n = len(cap)
    kept: list[int] = []
    by_shape: dict[int, int] = {}  # shape → position in `kept` of the first list of that shape
    by_value: dict[tuple[tuple[int, ...], tuple[int, ...] | None], int] = {}  # the others
    for c in keep:
        members, weights = c_members[c], c_weights[c]
        if weights is not None:
            total = sum([cap[i] * w for i, w in zip(members, weights, strict=True)])
        elif len(members) == 2:  # a shared station, the most common kind
            total = cap[members[0]] + cap[members[1]]
        else:
            total = sum([cap[i] for i in members])
        if total <= c_cap[c]:
            continue  # cannot bind even with everyone at their cap
        new = len(kept)
        k = by_shape.setdefault((len(members) * n + members[0]) * n + members[-1], new)
        if k != new and (c_members[kept[k]] != members or c_weights[kept[k]] != weights):
            value = (tuple(members), None if weights is None else tuple(weights))
            k = by_value.setdefault(value, new)
        if k == new:
            kept.append(c)
        elif c_cap[c] < c_cap[kept[k]]:
            kept[k] = c
    kept.sort()
    return kept


def index_of(q: Problem[L]) -> Index:
    """Each socket's constraints (for a problem that did not come from `simplify`)."""
    return _index(q)


def _index(q: Problem[L]) -> Index:
    """Each socket's constraints."""
    n = len(q.floor)
    plain: list[list[int]] = [[] for _ in range(n)]
    weighted: dict[int, list[tuple[int, int]]] = {}
    for c, members in enumerate(q.c_members):
        ws = q.c_weights[c]
        if ws is None:
            for i in members:
                plain[i].append(c)
        else:
            for i, w in zip(members, ws, strict=True):
                weighted.setdefault(i, []).append((c, w))
    by_socket: list[Sequence[tuple[int, int]]] = [()] * n
    for i, entries in weighted.items():
        by_socket[i] = entries
    return Index(plain, by_socket, bool(weighted))


@dataclass(slots=True)
class Admission:
    admitted: list[bool]
    blocked_by: list[int]
    """Constraint that had no room for the floor; -1 when the socket's own cap was below it."""
    crowded: list[bool]
    """For a paused socket: others were admitted on the constraint that blocked it."""
    used: list[int] = field(default_factory=list)
    """Σ weight · floor of the admitted members of each constraint (where `fill` starts)."""


def admit(p: Problem[L], ix: Index, order: list[int], candidates: list[bool]) -> Admission:
    """Admit candidates in `order` while their floors fit (exact, in deci-amps).

    A socket's floor is taken from each of its constraints in turn; at the first without room
    it is given back to those before, and the socket is paused (one pass instead of a check
    and then a second pass to take it: most sockets fit).
    """
    n = len(p.floor)
    c_cap = p.c_cap
    rem = c_cap[:]
    admitted = [False] * n
    blocked = [-1] * n
    crowded = [False] * n
    floor, cap, plain, weighted = p.floor, p.cap, ix.plain, ix.weighted
    any_weighted = ix.any_weighted
    for i in order:
        if not candidates[i]:
            continue
        f = floor[i]
        if cap[i] < f:
            continue
        block = -1
        for c in plain[i]:
            left = rem[c] - f
            if left < 0:
                block = c
                break
            rem[c] = left
        if any_weighted and block < 0:
            block = _take_weighted(rem, weighted[i], f)
        if block < 0:
            admitted[i] = True
            continue
        for c in plain[i]:  # give back what was taken before the block
            if c == block:
                break
            rem[c] += f
        blocked[i] = block
        # Floors and weights are > 0, so room was used on it iff someone was admitted.
        crowded[i] = rem[block] < c_cap[block]
    used = [total - left for total, left in zip(c_cap, rem, strict=True)]
    return Admission(admitted, blocked, crowded, used)


def _take_weighted(rem: list[int], mine: Sequence[tuple[int, int]], f: int) -> int:
    """Take w·f from each weighted constraint; -1 if all had room, else the first that had
    not (the plain ones then give back too: the caller's loop finds no block among them)."""
    for k, (c, w) in enumerate(mine):
        if rem[c] < w * f:
            for c2, w2 in mine[:k]:
                rem[c2] += w2 * f
            return c
        rem[c] -= w * f
    return -1


def finalize(
    p: Problem[L], admitted: list[bool], x: list[float], loads: list[float] | None = None
) -> list[int]:
    """Round down to deci-amps and enforce every constraint exactly (lowest priority gives back).

    With `loads` from `fill_with_loads`, a constraint whose load is more than 0.1 A below its
    capacity is not summed again: each current is rounded up by at most `_EPS`, too little
    to reach the capacity (checked against the constraint's size).
    """
    floor, c_cap, c_weights = p.floor, p.c_cap, p.c_weights
    rounded = [int(v + _EPS) for v in x]
    # min(cap, max(floor, rounded)) for the admitted, 0 for the others
    d = [
        (c if (m := f if v < f else v) > c else m) if ok else 0
        for v, f, c, ok in zip(rounded, floor, p.cap, admitted, strict=True)
    ]
    for c, members in enumerate(p.c_members):
        weights = c_weights[c]
        if loads is not None:
            room = c_cap[c] - 1 - loads[c]
            if room > 0 and room > _EPS * (len(members) if weights is None else sum(weights)):
                continue
        if weights is not None:
            total = sum([w * d[i] for i, w in zip(members, weights, strict=True)])
        elif len(members) == 2:  # a shared station, the most common kind
            total = d[members[0]] + d[members[1]]
        else:
            total = sum([d[i] for i in members])
        excess = total - c_cap[c]
        if excess > 0:
            ws = [1] * len(members) if weights is None else weights
            by_rank = sorted(zip(members, ws, strict=True), key=lambda m: -p.rank[m[0]])
            _give_back(d, floor, by_rank, excess)
    return d


def _give_back(d: list[int], floor: list[int], by_rank: list[tuple[int, int]], excess: int) -> None:
    for i, w in by_rank:  # first lower currents towards the floors …
        if excess <= 0:
            return
        give = min(d[i] - floor[i], -(-excess // w)) if d[i] else 0
        if give > 0:
            d[i] -= give
            excess -= give * w
    for i, w in by_rank:  # … then pause, lowest priority first
        if excess <= 0:
            return
        if d[i]:
            excess -= d[i] * w
            d[i] = 0
