"""The tree of limits as constraints: shared station maxima, grid phases, the site cap, circuits.

Each node gives one constraint per grid phase over the sessions below it that load that phase.
Sessions that load every grid phase (most of them) are listed once per node and added to each
phase's list at the end. A session is filed once, under its nearest circuit (its "home"); a
circuit's members are the merged lists of the homes in its subtree.

The member lists depend only on which sockets are in use, the phases their EVs load and which
sessions are candidates, not on any current: a control loop sees the same for many runs in a
row. So `tree_for` builds them into a `Tree` once and keeps the last few per compiled site, and
`add_tree` only fills in this run's capacities (the grid headroom changes every run). Whether a
constraint can bind at all is left to `waterfill.simplify`, which drops those that cannot.
"""

from __future__ import annotations

import math
from itertools import chain

from .phases import Phase
from .result import Binding, LimitSource
from .topology import CompiledSite, SocketInfo
from .waterfill import Memo, Problem

GRID_LABELS = {p: Binding(LimitSource.GRID_PHASE, p.name) for p in Phase}
_TREES_KEPT = 4


def deci_down(amps: float) -> int:
    """Amps → deci-amps, rounded down (float noise below 1e-9 A ignored)."""
    return max(0, math.floor(amps * 10 + 1e-9))


class Tree:
    """The constraints of the tree of limits for one set of sessions, without currents.

    Constraint k has members `members[k]` and label `labels[k]`; its capacity is `caps[k]`
    deci-amps, or for a grid phase (`caps[k]` < 0) this run's headroom on grid phase
    −1 − caps[k]. Sessions of a shared station are also capped at its maximum (`bounds`).
    """

    __slots__ = (
        "bounds",
        "candidate",
        "caps",
        "infos",
        "labels",
        "members",
        "memo",
        "paused",
        "phases",
    )

    def __init__(
        self, infos: list[SocketInfo], phases: list[tuple[Phase, ...]], candidate: list[bool]
    ) -> None:
        self.infos, self.phases, self.candidate = infos[:], phases[:], candidate[:]
        self.members: list[list[int]] = []
        self.labels: list[Binding] = []
        self.caps: list[int] = []
        self.bounds: list[tuple[int, int, Binding]] = []
        self.memo: Memo[Binding] = Memo()
        """What `waterfill.simplify` found for this tree last time (see there)."""
        self.paused: dict[tuple[LimitSource, Binding], Binding] = {}
        """Bindings of paused sockets by why and on what, kept so that they stay the same objects
        from run to run."""

    def add(self, cap: int, label: Binding, members: list[int]) -> None:
        if members:
            self.members.append(members)
            self.labels.append(label)
            self.caps.append(cap)

    def fits(
        self, infos: list[SocketInfo], phases: list[tuple[Phase, ...]], candidate: list[bool]
    ) -> bool:
        # The same SocketInfo and phase tuples are shared objects, so these compare by identity.
        return self.infos == infos and self.phases == phases and self.candidate == candidate


def tree_for(
    cs: CompiledSite,
    infos: list[SocketInfo],
    phases: list[tuple[Phase, ...]],
    candidate: list[bool],
) -> Tree:
    """The `Tree` of these sessions (in site order), reused when an equal one was built lately.

    Only plain list reads and writes, so concurrent callers at worst build a tree twice.
    """
    recent = cs.trees
    for tree in recent:
        if tree.fits(infos, phases, candidate):
            return tree
    tree = _build(cs, infos, phases, candidate)
    recent.insert(0, tree)
    del recent[_TREES_KEPT:]
    return tree


def add_tree(problem: Problem[Binding], tree: Tree, grid_caps: tuple[float, ...]) -> None:
    """Put the tree's constraints into `problem` with this run's grid capacities, and cap the
    sessions of shared stations at the station's maximum."""
    cap, cap_label = problem.cap, problem.cap_label
    for i, station_cap, label in tree.bounds:
        if station_cap < cap[i]:
            cap[i], cap_label[i] = station_cap, label
    grid = [deci_down(a) for a in grid_caps]
    problem.c_cap += [c if c >= 0 else grid[-1 - c] for c in tree.caps]
    problem.c_label += tree.labels
    problem.c_members += tree.members
    problem.c_weights += [None] * len(tree.members)


def _build(
    cs: CompiledSite,
    infos: list[SocketInfo],
    phases: list[tuple[Phase, ...]],
    candidate: list[bool],
) -> Tree:
    """Shared stations (in site order), then the grid phases, then the circuits in the order
    the sessions first reach them."""
    tree = Tree(infos, phases, candidate)
    n_phases = len(cs.grid_phases)
    grid = _PhaseLists()
    homes: dict[int, _PhaseLists] = {}
    n = len(infos)
    k = 0
    while k < n:
        # Sessions of one station are adjacent (infos are in site order).
        info = infos[k]
        end = k + 1
        while end < n and infos[end].station == info.station:
            end += 1
        group = [i for i in range(k, end) if candidate[i]] if end > k + 1 else [k]
        if info.station_shared and group:
            _station(tree, info, group, phases, n_phases)
        circuits = info.circuits
        home: _PhaseLists | None = None
        for i in group:
            if not candidate[i]:
                continue
            if circuits and home is None:
                home = homes.get(circuits[0])
                if home is None:
                    home = homes[circuits[0]] = _PhaseLists()
            grid.add(i, phases[i], n_phases)
            if home is not None:
                home.add(i, phases[i], n_phases)
        k = end
    grid.emit(tree, cs.grid_phases, [-1 - k for k in range(n_phases)], GRID_LABELS)
    if cs.cap_d is not None:  # the operator's site cap: the root, over every session
        grid.emit(tree, cs.grid_phases, [cs.cap_d] * n_phases, dict.fromkeys(Phase, cs.cap_label))
    for c in _reached(cs, homes):
        lists = _PhaseLists.merged([homes[h] for h in cs.subtree[c] if h in homes])
        labels = dict.fromkeys(Phase, cs.circuit_labels[c])
        lists.emit(tree, cs.grid_phases, [cs.circuit_caps_d[c]] * n_phases, labels)
    return tree


def _reached(cs: CompiledSite, homes: dict[int, _PhaseLists]) -> list[int]:
    """The circuits above the homes, in the order the sessions (in site order) reach them."""
    seen: dict[int, None] = {}
    for home in homes:  # dicts keep insertion order: homes in order of their first session
        for c in cs.circuit_chains[home]:
            seen.setdefault(c)
    return list(seen)


class _PhaseLists:
    """Members of one node per phase: those on every phase once, the others per phase."""

    __slots__ = ("full", "part")

    def __init__(self) -> None:
        self.full: list[int] = []
        self.part: list[list[int]] | None = None

    def add(self, i: int, phases: tuple[Phase, ...], n_phases: int) -> None:
        if len(phases) == n_phases:
            self.full.append(i)
            return
        if self.part is None:
            self.part = [[], [], []]
        for p in phases:
            self.part[p - 1].append(i)

    @staticmethod
    def merged(homes: list[_PhaseLists]) -> _PhaseLists:
        """The members of several homes together, each list in site order."""
        if len(homes) == 1:
            return homes[0]
        out = _PhaseLists()
        out.full = sorted(chain.from_iterable(h.full for h in homes))
        parts = [h.part for h in homes if h.part is not None]
        if parts:
            out.part = [sorted(chain.from_iterable(p[k] for p in parts)) for k in range(3)]
        return out

    def emit(
        self,
        tree: Tree,
        grid_phases: tuple[Phase, ...],
        caps: list[int],
        labels: dict[Phase, Binding],
    ) -> None:
        """One constraint per phase (with the same members on every phase when no session is
        partial: `simplify` then keeps only the tightest, as if only that one were added)."""
        for k, p in enumerate(grid_phases):
            part = [] if self.part is None else self.part[p - 1]
            tree.add(caps[k], labels[p], self.full + part if part else self.full)


def _station(
    tree: Tree,
    info: SocketInfo,
    group: list[int],
    phases: list[tuple[Phase, ...]],
    n_phases: int,
) -> None:
    """Station max shared by the sockets in `group`, once per distinct set of sockets on a phase
    (whether it can bind is for `simplify` to see)."""
    cap, label = info.station_cap_d, info.station_label
    for i in group:  # alone, no socket may exceed the station max on any of its phases
        tree.bounds.append((i, cap, label))
    if len(group) == 1:
        return
    if len(group) == 2:
        i, j = group
        pi, pj = phases[i], phases[j]
        if len(pi) == n_phases or len(pj) == n_phases or not set(pi).isdisjoint(pj):
            tree.add(cap, label, [i, j])
        return
    distinct: dict[tuple[int, ...], None] = {}
    for p in (1, 2, 3):
        members = tuple(i for i in group if p in phases[i])
        if len(members) > 1:
            distinct[members] = None
    for members in distinct:
        tree.add(cap, label, list(members))
