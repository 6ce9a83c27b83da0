"""The tree of limits as constraints: grid phases, circuits and shared station maxima.

Each node gives one constraint per grid phase over the sessions below it that load that phase.
Sessions that load every grid phase (most of them) are listed once per node and copied into each
phase's list at the end, which saves two thirds of the work on 3-phase sites; when no session of
a node is partial, only its tightest phase is emitted (the others cannot bind first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    """Grid-phase, circuit and shared-station constraints over the candidate sessions.

    Sessions that load every grid phase (most of them) are listed once per node and copied into
    each phase's list at the end, which saves two thirds of the work on 3-phase sites.
    """
    n_phases = len(cs.grid_phases)
    grid = _PhaseLists()
    circuits: dict[int, _PhaseLists] = {}
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
            _station(problem, info, group, phases)
        for i in group:
            if not candidate[i]:
                continue
            ph = phases[i]
            full = len(ph) == n_phases
            if full:
                grid.full.append(i)
            else:
                grid.add(i, ph, False)
            for c in infos[i].circuits:
                lists = circuits.get(c)
                if lists is None:
                    lists = circuits[c] = _PhaseLists()
                if full:
                    lists.full.append(i)
                else:
                    lists.add(i, ph, False)
        k = end
    caps = [deci_down(a) for a in grid_caps]
    grid.emit(problem, cs.grid_phases, caps, [GRID_LABELS[p] for p in cs.grid_phases])
    for c, lists in circuits.items():
        circuit = site.circuits[c]
        label = Binding(LimitSource.CIRCUIT, circuit.id)
        cap = deci_down(circuit.limit_a)
        lists.emit(problem, cs.grid_phases, [cap] * n_phases, [label] * n_phases)


class _PhaseLists:
    """Members of one node per phase: those on every phase once, the others per phase."""

    __slots__ = ("full", "part")

    def __init__(self) -> None:
        self.full: list[int] = []
        self.part: list[list[int]] | None = None

    def add(self, i: int, phases: tuple[Phase, ...], full: bool) -> None:
        if full:
            self.full.append(i)
            return
        if self.part is None:
            self.part = [[], [], []]
        for p in phases:
            self.part[p - 1].append(i)

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
    problem: Problem[Binding], info: SocketInfo, group: list[int], phases: list[tuple[Phase, ...]]
) -> None:
    """Station max shared by the sockets in `group`, once per distinct set of sockets on a phase."""
    cap, label = info.station_cap_d, info.station_label
    for i in group:  # alone, no socket may exceed the station max on any of its phases
        problem.bound(i, cap, label)
    if len(group) == 1:
        return
    if len(group) == 2:
        i, j = group
        if set(phases[i]) & set(phases[j]) and problem.cap[i] + problem.cap[j] > cap:
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
        elif sum(problem.cap[i] for i in members) > cap:
            problem.add(cap, label, list(members))
