"""Step 3 of `waterfill`: progressive filling ("water-filling") of the admitted sockets.

A common level t rises from the lowest floor; every admitted socket carries clamp(t, floor, cap).
When a constraint fills up, its rising sockets freeze there and the level keeps rising for the
others, so capacity a capped or frozen socket does not use goes to the rest. Events (sockets
start rising at their floor, stop at their cap, a constraint fills) come in order from two sorted
lists and a heap of the levels at which constraints fill.

Per constraint the state is its load at a reference level and its slope (Σ weight of the members
rising), so the load at any level is a line until the slope changes. Sockets that start or stop
at the same level are one batch that changes each of their constraints once. This is the hot
loop of a run: at 10,000 sockets every line per socket and constraint counts.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import Counter
from itertools import chain
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .waterfill import Index, Problem

L = TypeVar("L")

INF = float("inf")

WAITING, RISING, CAPPED, FROZEN, OUT = 0, 1, 2, 3, 4


def fill(
    p: Problem[L], ix: Index, admitted: list[bool], used: list[int] | None = None
) -> tuple[list[float], list[int]]:
    """Progressive filling of the admitted sockets from their floors.

    Returns each socket's current (deci-amps, float; 0 if not admitted) and the constraint that
    froze it (-1: it reached its own cap, or was not admitted). `used` is `Admission.used`, the
    floors already placed on each constraint (summed here when not given).
    """
    x, bind, _ = fill_with_loads(p, ix, admitted, used)
    return x, bind


def fill_with_loads(
    p: Problem[L], ix: Index, admitted: list[bool], used: list[int] | None = None
) -> tuple[list[float], list[int], list[float]]:
    """`fill`, and each constraint's final load (Σ weight · current; INF for those that filled
    up), which lets `finalize` skip the constraints that rounding cannot push over."""
    floor, cap = p.floor, p.cap
    x = [float(f) if ok else 0.0 for f, ok in zip(floor, admitted, strict=True)]
    state = [
        (WAITING if c > f else CAPPED) if ok else OUT
        for f, c, ok in zip(floor, cap, admitted, strict=True)
    ]
    starts = [i for i, s in enumerate(state) if s == WAITING]
    starts.sort(key=floor.__getitem__)
    ends = sorted(starts, key=cap.__getitem__)
    f = _Filling(p, ix, list(_used(p, admitted) if used is None else used), x, state)
    ns = active = len(starts)  # sockets waiting or rising: once none is, nothing can change
    si, stopped = f.rise_first(starts)
    active -= stopped
    ei = 0
    while active:
        while si < ns and state[starts[si]] != WAITING:
            si += 1
        while ei < ns and state[ends[ei]] > RISING:
            ei += 1
        ts = floor[starts[si]] if si < ns else INF
        te = cap[ends[ei]] if ei < ns else INF
        tc, c = f.pop()
        if tc <= ts and tc <= te:
            if tc == INF:
                break
            heapq.heappop(f.heap)
            active -= f.freeze(c, tc)
        elif ts <= te:  # sockets at this floor start rising
            batch = []
            while si < ns and floor[i := starts[si]] == ts:
                si += 1
                if state[i] == WAITING:
                    state[i] = RISING
                    batch.append(i)
            f.shift(batch, float(ts), 1)
        else:  # sockets at this cap stop
            t = float(te)
            batch = []
            while ei < ns and cap[i := ends[ei]] == te:
                ei += 1
                if state[i] == RISING:
                    state[i] = CAPPED
                    x[i] = t
                    batch.append(i)
            active -= len(batch)
            f.shift(batch, t, -1)
    if active:  # cannot happen (a rising socket always has its cap ahead); be safe
        return x, f.bind, [INF] * len(f.load)
    # Nothing rises any more, so the loads are final; those of full constraints are not kept.
    return x, f.bind, [INF if full else v for v, full in zip(f.load, f.saturated, strict=True)]


class _Filling:
    """The state of one filling.

    Per socket: its current `x`, its state and the constraint that froze it. Per constraint: its
    load at level `tref`, its slope (Σ weight of the members rising), whether it is full, and a
    version: the heap holds (level at which it fills, constraint, version) and an entry whose
    version is not the constraint's current one is stale. Once full, a constraint's load and
    slope are never read again.
    """

    __slots__ = (
        "any_weighted",
        "bind",
        "c_cap",
        "c_members",
        "c_weights",
        "dirty",
        "heap",
        "load",
        "plain",
        "queued",
        "saturated",
        "slope",
        "stale",
        "state",
        "tref",
        "ver",
        "weighted",
        "x",
    )

    def __init__(
        self, p: Problem[L], ix: Index, load: list[float], x: list[float], state: list[int]
    ) -> None:
        nc = len(p.c_cap)
        self.c_cap, self.c_members, self.c_weights = p.c_cap, p.c_members, p.c_weights
        self.plain, self.weighted, self.any_weighted = ix.plain, ix.weighted, ix.any_weighted
        self.x, self.state = x, state
        self.bind = [-1] * len(x)
        self.load = load
        self.slope = [0] * nc
        self.tref = [0.0] * nc
        self.ver = [0] * nc
        self.saturated = [False] * nc
        self.queued = [False] * nc
        """Whether the constraint has a current (not stale) entry in the heap."""
        self.stale = 0
        self.dirty: list[int] = []
        self.heap: list[tuple[float, int, int]] = []

    def shift(self, batch: list[int], t: float, sign: int) -> None:
        """The sockets in `batch` start (sign 1) or stop (−1) rising at level t.

        Each constraint they are in is brought up to t once (at a level it was already at, that
        adds 0) and its slope changes by their total weight in it; the unweighted ones are
        counted by `Counter` in C, the bulk of the filling's work. Full constraints are updated
        too, which is harmless and cheaper than checking.
        """
        change: dict[int, int] = Counter(chain.from_iterable(map(self.plain.__getitem__, batch)))
        if self.any_weighted:
            weighted = self.weighted
            for i in batch:
                for c, w in weighted[i]:
                    change[c] = change.get(c, 0) + w
        tref, load, slope = self.tref, self.load, self.slope
        for c, k in change.items():
            load[c] += slope[c] * (t - tref[c])
            tref[c] = t
            slope[c] += sign * k
        self.dirty.extend(change)
        self.reschedule(t)

    def reschedule(self, t: float) -> None:
        """Queue the level at which each changed constraint fills (none if nothing rises in it).

        The entry queued before for a changed constraint goes stale. When most of the heap is
        stale (typically: a big constraint froze the members of thousands of small ones), it is
        rebuilt without them rather than popping them one by one later.
        """
        saturated, slope, tref, load = self.saturated, self.slope, self.tref, self.load
        c_cap, ver, queued, heap = self.c_cap, self.ver, self.queued, self.heap
        for c in self.dirty:
            if saturated[c]:
                continue
            if queued[c]:
                self.stale += 1
            ver[c] += 1
            if slope[c] > 0:
                tau = tref[c] + (c_cap[c] - load[c]) / slope[c]
                heapq.heappush(heap, (tau if tau > t else t, c, ver[c]))
                queued[c] = True
            else:
                queued[c] = False
        self.dirty.clear()
        if self.stale > 64 and 2 * self.stale > len(heap):
            heap[:] = [e for e in heap if e[2] == ver[e[1]]]
            heapq.heapify(heap)
            self.stale = 0

    def pop(self) -> tuple[float, int]:
        """The next constraint to fill and the level at which it does (INF, -1: none)."""
        heap, ver = self.heap, self.ver
        while heap:
            tau, c, v = heap[0]
            if v == ver[c]:
                return tau, c
            heapq.heappop(heap)
            self.stale -= 1
        return INF, -1

    def freeze(self, c: int, t: float) -> int:
        """Constraint c is full at level t: its members stay where they are. Returns how many
        sockets that stopped (rising or still waiting at their floor)."""
        self.saturated[c] = True
        self.queued[c] = False  # its entry was just taken
        state, x, bind = self.state, self.x, self.bind
        rising = []
        stopped = 0
        for i in self.c_members[c]:
            s = state[i]
            if s == RISING:
                x[i] = t
                rising.append(i)
            elif s != WAITING:
                continue
            state[i] = FROZEN
            bind[i] = c
            stopped += 1
        self.shift(rising, t, -1)
        return stopped

    def rise_first(self, starts: list[int]) -> tuple[int, int]:
        """Start the sockets at the lowest floor (the first event): returns how many of `starts`
        that was, and how many of them stopped at once.

        A constraint that the floors already fill (Σ weight · floor = capacity: common when
        sessions alternate) would be full the moment they start, and the filling would freeze
        its members right away, constraint by constraint in order. That is done here before
        anything rises, so those sockets are not started and stopped again.
        """
        if not starts:
            return 0, 0
        x, state = self.x, self.state  # x: the floors so far
        level = x[starts[0]]
        k = bisect_right(starts, level, key=x.__getitem__)  # starts are sorted by floor
        first = starts[:k]
        for i in first:
            state[i] = RISING
        stopped = self.freeze_full()
        self.shift([i for i in first if state[i] == RISING] if stopped else first, level, 1)
        return k, stopped

    def freeze_full(self) -> int:
        """Freeze the members of the constraints that the floors fill (see `rise_first`), in
        constraint order, as long as one of their members rises; returns how many stopped."""
        state, bind, saturated, c_members = self.state, self.bind, self.saturated, self.c_members
        stopped = 0
        full = [
            c
            for c, (used, cap) in enumerate(zip(self.load, self.c_cap, strict=True))
            if used >= cap
        ]
        for c in full:
            members = c_members[c]
            if RISING not in map(state.__getitem__, members):
                continue  # nothing would rise in it: it never fills
            saturated[c] = True
            for i in members:
                s = state[i]
                if s <= RISING:  # waiting or rising
                    state[i] = FROZEN
                    bind[i] = c
                    stopped += 1
        return stopped


def _used(p: Problem[L], admitted: list[bool]) -> list[int]:
    """Σ weight · floor of the admitted members of each constraint."""
    floor, out = p.floor, []
    for c, members in enumerate(p.c_members):
        ws = p.c_weights[c]
        if ws is None:
            out.append(sum([floor[i] for i in members if admitted[i]]))
        else:
            out.append(sum([floor[i] * w for i, w in zip(members, ws, strict=True) if admitted[i]]))
    return out
