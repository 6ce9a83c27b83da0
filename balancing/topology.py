"""The site flattened for fast allocation: one record per socket with everything above it.

`compile_site` is pure; `compiled` memoises it per Site object, because a control loop passes the
same Site every run and a 10,000-socket site takes a few milliseconds to walk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .model import Site, SocketKey
from .phases import ALFEN_SOCKET1_INTERNAL, IDENTITY, ROTATIONS, Phase, PhaseRotation, compose
from .result import Binding, LimitSource

if TYPE_CHECKING:
    from .constraints import Tree

_SITE_CAP = Binding(LimitSource.CAP_SITE)
_SUBSETS = ((1,), (2,), (3,), (1, 2), (1, 3), (2, 3), (1, 2, 3))
_PHASE_TABLES: dict[str, dict[tuple[int, ...], tuple[Phase, ...]]] = {}


def phase_table(rotation: PhaseRotation) -> dict[tuple[int, ...], tuple[Phase, ...]]:
    """Grid phases loaded for every set of EV phases, for one rotation (shared, read-only)."""
    table = _PHASE_TABLES.get(rotation.name)
    if table is None:
        table = {ev: rotation.grid_phases(ev) for ev in _SUBSETS}
        _PHASE_TABLES[rotation.name] = table
    return table


def _deci(amps: float) -> int:
    return max(0, int(amps * 10 + 1e-9))


@dataclass(frozen=True, slots=True)
class SocketInfo:
    key: SocketKey
    index: int
    """Position in the site (station order, then connector order)."""
    station: int
    """Index of the station in `site.stations`."""
    rotation: PhaseRotation
    """Effective rotation: feeder, then the station's internal wiring."""
    circuits: tuple[int, ...]
    """Indices into `site.circuits`, nearest first, up to the grid."""
    connector_max_a: float
    station_max_a: float
    station_shared: bool
    """The station max is shared with other sockets (several sockets on one feeder)."""
    min_current_a: float | None
    order_id: int
    """`SCN-SocketID`, or the position in the site when none is configured."""
    phase_table: dict[tuple[int, ...], tuple[Phase, ...]]
    """Grid phases for each set of EV phases (see `phase_table`)."""
    ev_to_grid: tuple[int, int, int]
    """0-based grid phase index of EV phases 1, 2, 3."""
    own_cap_d: int
    """Connector max, or the station max when that is lower and not shared (deci-amps)."""
    own_label: Binding
    station_cap_d: int
    station_label: Binding
    circuit_caps_d: tuple[int, ...]
    circuit_labels: tuple[Binding, ...]
    trees: list[Tree] = field(default_factory=list, compare=False, repr=False)
    """The constraint trees built lately for this site (`constraints.tree_for`), newest first."""


@dataclass(frozen=True, slots=True)
class CompiledSite:
    sockets: tuple[SocketInfo, ...]
    by_key: dict[SocketKey, SocketInfo]
    grid_phases: tuple[Phase, ...]
    index_of: dict[SocketKey, int]
    """Position of each socket in `sockets`."""
    circuit_chains: tuple[tuple[int, ...], ...]
    """For each circuit (index into `site.circuits`): itself and its ancestors, nearest first."""
    subtree: tuple[tuple[int, ...], ...]
    """For each circuit: itself and every circuit below it."""
    circuit_caps_d: tuple[int, ...]
    circuit_labels: tuple[Binding, ...]
    cap_d: int | None = None
    """The operator's cap on the whole site per phase (`Site.cap_a`, deci-amps), the root."""
    cap_label: Binding = _SITE_CAP
    trees: list[Tree] = field(default_factory=list, compare=False, repr=False)
    """The constraint trees built lately for this site (`constraints.tree_for`), newest first."""


def compile_site(site: Site) -> CompiledSite:
    """Flatten the tree of limits into per-socket records."""
    circuit_index = {c.id: i for i, c in enumerate(site.circuits)}
    chains: dict[str | None, tuple[int, ...]] = {None: ()}

    def chain(cid: str | None) -> tuple[int, ...]:
        if cid not in chains:
            assert cid is not None
            i = circuit_index[cid]
            chains[cid] = (i, *chain(site.circuits[i].parent))
        return chains[cid]

    default = IDENTITY if site.phases == 3 else ROTATIONS["L1"]
    infos: list[SocketInfo] = []
    c_labels = [Binding(c.source, c.id) for c in site.circuits]
    c_caps = [_deci(c.limit_a) for c in site.circuits]
    for si, station in enumerate(site.stations):
        s_label = Binding(station.max_source, station.id)
        s_cap = _deci(station.max_current_a)
        feeder = station.phase_rotation or default
        internal = station.internal_rotation
        if internal is None:
            internal = len(station.sockets) == 2 and site.phases == 3
        shared = len(station.sockets) > 1 and not station.dual_feeder
        for k, sock in enumerate(station.sockets):
            rotation = sock.phase_rotation or feeder
            if internal and k == 0:
                rotation = compose(rotation, ALFEN_SOCKET1_INTERNAL)
            own_cap, own_label = (
                _deci(sock.max_current_a),
                Binding(sock.max_source, f"{station.id}/{sock.connector_id}"),
            )
            if not shared and s_cap < own_cap:
                own_cap, own_label = s_cap, s_label
            circuits = chain(station.circuit_id)
            infos.append(
                SocketInfo(
                    key=(station.id, sock.connector_id),
                    index=len(infos),
                    station=si,
                    rotation=rotation,
                    circuits=circuits,
                    connector_max_a=sock.max_current_a,
                    station_max_a=station.max_current_a,
                    station_shared=shared,
                    min_current_a=sock.min_current_a,
                    order_id=len(infos) if sock.socket_id is None else sock.socket_id,
                    phase_table=phase_table(rotation),
                    ev_to_grid=(
                        rotation.grid_phase(1) - 1,
                        rotation.grid_phase(2) - 1,
                        rotation.grid_phase(3) - 1,
                    ),
                    own_cap_d=own_cap,
                    own_label=own_label,
                    station_cap_d=s_cap,
                    station_label=s_label,
                    circuit_caps_d=tuple(c_caps[c] for c in circuits),
                    circuit_labels=tuple(c_labels[c] for c in circuits),
                )
            )
    phases = (Phase.L1, Phase.L2, Phase.L3) if site.phases == 3 else (Phase.L1,)
    chains_of = tuple(chain(c.id) for c in site.circuits)
    below: list[list[int]] = [[] for _ in site.circuits]
    for d, up in enumerate(chains_of):
        for c in up:
            below[c].append(d)
    return CompiledSite(
        sockets=tuple(infos),
        by_key={i.key: i for i in infos},
        grid_phases=phases,
        index_of={i.key: i.index for i in infos},
        circuit_chains=chains_of,
        subtree=tuple(tuple(b) for b in below),
        circuit_caps_d=tuple(c_caps),
        circuit_labels=tuple(c_labels),
        cap_d=None if site.cap_a is None else _deci(site.cap_a),
        cap_label=Binding(LimitSource.CAP_SITE, site.id),
    )


_BY_ID: dict[int, tuple[Site, CompiledSite]] = {}
_BY_VALUE: dict[Site, CompiledSite] = {}
_CACHE_SIZE = 16


def compiled(site: Site) -> CompiledSite:
    """`compile_site(site)`, remembered for the last few sites.

    The same Site object is found by identity; an equal Site built afresh (a control loop that
    rebuilds its Site every tick) by value, which costs a hash of the site instead of a compile.
    Only plain dict reads and writes, so concurrent callers at worst compile a site twice.
    """
    hit = _BY_ID.get(id(site))
    if hit is not None and hit[0] is site:
        return hit[1]
    result = _BY_VALUE.get(site)
    if result is None:
        result = compile_site(site)
        if len(_BY_VALUE) >= _CACHE_SIZE:
            _BY_VALUE.clear()
        _BY_VALUE[site] = result
    if len(_BY_ID) >= _CACHE_SIZE:
        _BY_ID.clear()
    _BY_ID[id(site)] = (site, result)
    return result
