"""The tree of limits as constraints: grid phases, circuits and shared station maxima.

Each node gives one constraint per grid phase over the sessions below it that load that phase.
Sessions that load every grid phase (most of them) are listed once per node and copied into each
phase's list at the end, which saves two thirds of the work on 3-phase sites; when no session of
a node is partial, only its tightest phase is emitted (the others cannot bind first).

A session is filed once, under its nearest circuit (its "home"); a circuit's members are the
merged lists of the homes in its subtree. That is one append per session instead of one per
node above it, and the lists come out in site order as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain

from .model import Site
from .phases import Phase
from .result import Binding, LimitSource
from .topology import CompiledSite, SocketInfo
from .waterfill import Problem

GRID_LABELS = {p: Binding(LimitSource.GRID_PHASE, p.name) for p in Phase}


def deci_down(amps: float) -> int:
    """Amps → deci-amps, rounded down (float noise below 1e-9 A ignored)."""
    return max(0, math.floor(amps * 10 + 1e-9))


def add_tree(
    problem: Problem[Binding],
    site: Site,
    cs: CompiledSite,
    infos: Sequence[SocketInfo],
    phases: list[tuple[Phase, ...]],
    candidate: list[bool],
    grid_caps: tuple[float, ...],
) -> None:
    """Shared-station, grid-phase and circuit constraints over the candidate sessions (in that
    order; circuits in the order the sessions first reach them)."""
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
            _station(problem, info, group, phases, n_phases)
        circuits = info.circuits
        home: _PhaseLists | None = None
        for i in group:
            if not candidate[i]:
                continue
            if circuits and home is None:
                home = homes.get(circuits[0])
                if home is None:
                    home = homes[circuits[0]] = _PhaseLists()
            ph = phases[i]
            if len(ph) == n_phases:
                grid.full.append(i)
                if home is not None:
                    home.full.append(i)
            else:
                grid.add_part(i, ph)
                if home is not None:
                    home.add_part(i, ph)
        k = end
    caps = [deci_down(a) for a in grid_caps]
    grid.emit(problem, cs.grid_phases, caps, [GRID_LABELS[p] for p in cs.grid_phases])
    for c in _reached(cs, homes):
        lists = _PhaseLists.merged([homes[h] for h in cs.subtree[c] if h in homes])
        cap, label = cs.circuit_caps_d[c], cs.circuit_labels[c]
        lists.emit(problem, cs.grid_phases, [cap] * n_phases, [label] * n_phases)


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

    def add_part(self, i: int, phases: tuple[Phase, ...]) -> None:
        """File a session that loads only some of the grid phases."""
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
        problem: Problem[Binding],
        grid_phases: tuple[Phase, ...],
        caps: list[int],
        labels: list[Binding],
    ) -> None:
        if self.part is None:
            # Same members on every phase: only the tightest phase can bind.
            k = min(range(len(caps)), key=caps.__getitem__)
            problem.add(caps[k], labels[k], self.full)
            return
        for k, p in enumerate(grid_phases):
            problem.add(caps[k], labels[k], self.full + self.part[p - 1])


def _station(
    problem: Problem[Binding],
    info: SocketInfo,
    group: list[int],
    phases: list[tuple[Phase, ...]],
    n_phases: int,
) -> None:
    """Station max shared by the sockets in `group`, once per distinct set of sockets on a phase."""
    cap, label = info.station_cap_d, info.station_label
    p_cap, p_label = problem.cap, problem.cap_label
    for i in group:  # alone, no socket may exceed the station max on any of its phases
        if cap < p_cap[i]:
            p_cap[i], p_label[i] = cap, label
    if len(group) == 1:
        return
    if len(group) == 2:
        i, j = group
        pi, pj = phases[i], phases[j]
        shared = len(pi) == n_phases or len(pj) == n_phases or not set(pi).isdisjoint(pj)
        if shared and p_cap[i] + p_cap[j] > cap:
            problem.add(cap, label, [i, j])
        return
    distinct: dict[tuple[int, ...], None] = {}
    for p in (1, 2, 3):
        members = tuple(i for i in group if p in phases[i])
        if members:
            distinct[members] = None
    for members in distinct:
        if len(members) == 1:
            problem.bound(members[0], cap, label)
        elif sum(p_cap[i] for i in members) > cap:
            problem.add(cap, label, list(members))
