"""A station's local limits as nodes of the site's tree of limits, and what the station applies.

Alfen's rule is "the lowest limit leads": a socket gets the minimum of the OCPP profile and its own
local limits (Station-MaxCurrent, ConnectorN-MaxCurrent, its SCN, its safe current when it lost
its own meter). The central system puts every one of those limits, and the operator's caps, into
the balancing core's tree (`balancing.Site`) *before* allocating, so that current a capped socket
cannot use goes to its neighbours in the same control step:

- `ConnectorN-MaxCurrent` and a connector cap → `Socket.max_current_a` (the lower one, named);
- `Station-MaxCurrent`, `Safe-MaxCurrent` while the station reports its meter lost, and a station
  cap → `Station.max_current_a`, shared by its sockets;
- an SCN (`SCN-TotalStaticCurrent`, or `SCN-TotalSafeCurrent` while a station of it reports its
  meter lost) → a circuit above its stations (`SCN_SHARE`/`SCN_SAFE`);
- the site cap → `Site.cap_a`, the root over all EVs.

Each node keeps its `LimitSource`; on a tie the station's own (static) limit is named rather than
the operator's cap. `predict` is only a prediction: what the station will apply given our
limit, splitting its own limits equally over the sockets it counts as in use, as it does before
it sees a socket draw less (about 3 minutes). It explains and verifies; it never cuts a limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from balancing import LimitSource, Site

ConnectorKey = tuple[str, int]  # (station id, connector id)

# StatusNotification hints that a station lost its own meter/EMS and runs on its safe current
# (Alfen: connector 0, Faulted/OtherError, vendorErrorCode 210, "... in safe mode max 22.0A").
SAFE_MODE_VENDOR_CODES = frozenset({"210"})


@dataclass(frozen=True, slots=True)
class LocalLimits:
    """A station's own limits from its configuration keys (None = not configured/unknown)."""

    station_max_a: float | None = None
    connector_max_a: Mapping[int, float] = field(default_factory=dict)
    scn_enabled: bool = False
    scn_network: str | None = None
    scn_total_static_a: float | None = None
    scn_total_safe_a: float | None = None
    safe_max_a: float | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """A current limit in A and what imposes it."""

    value_a: float
    source: LimitSource
    detail: str = ""  # which one, e.g. the grid phase "L2"


@dataclass(frozen=True, slots=True)
class ConnectorLimit:
    """One connector's limit (the allocation, with the node of the tree that bound it), every
    limit of the tree above the socket (`candidates`: node totals, then the allocation), and the
    prediction of what the station will apply (`predicted`)."""

    value_a: float
    source: LimitSource
    candidates: tuple[Limit, ...]
    detail: str = ""
    predicted: Limit | None = None


@dataclass(frozen=True, slots=True)
class OperatorCaps:
    """Caps set through the API. A site or station cap is a total shared over its charging
    connectors (unused share goes to the others); a connector cap applies to that connector."""

    site_a: float | None = None
    station_a: Mapping[str, float] = field(default_factory=dict)
    connector_a: Mapping[ConnectorKey, float] = field(default_factory=dict)


def local_limits_from_config(config: Mapping[str, str | None]) -> LocalLimits:
    """Parse the keys that limit a station's current from a configuration snapshot.

    Tolerant: unknown, empty or malformed values count as not configured (the station's own
    limit then cannot bind, which the API shows as the absence of that candidate).
    """
    connector_max: dict[int, float] = {}
    for key, value in config.items():
        # Connector1-MaxCurrent; the guide also lists Connector1.2-MaxCurrent (second feeder),
        # which is not a socket of its own and is left out.
        if key.startswith("Connector") and key.endswith("-MaxCurrent"):
            number = key[len("Connector") : -len("-MaxCurrent")]
            amps = _float(value)
            if number.isdigit() and amps is not None:
                connector_max[int(number)] = amps
    return LocalLimits(
        station_max_a=_float(config.get("Station-MaxCurrent")),
        connector_max_a=connector_max,
        scn_enabled=_bool(config.get("SCN-IsEnabled")),
        scn_network=(config.get("SCN-NetworkName") or None),
        scn_total_static_a=_float(config.get("SCN-TotalStaticCurrent")),
        scn_total_safe_a=_float(config.get("SCN-TotalSafeCurrent")),
        safe_max_a=_float(config.get("Safe-MaxCurrent")),
    )


def reports_meter_lost(
    connector_id: int, status: str, vendor_error_code: str | None, info: str | None
) -> bool | None:
    """Whether a StatusNotification says the station lost its own meter (True), recovered
    (False), or says nothing about it (None). Only connector 0 speaks for the station."""
    if connector_id != 0:
        return None
    if status == "Faulted" and (
        (vendor_error_code or "") in SAFE_MODE_VENDOR_CODES or "safe mode" in (info or "").lower()
    ):
        return True
    if status in ("Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE"):
        return False
    return None


@dataclass(frozen=True, slots=True)
class StationNodes:
    """A station's limits as nodes of the tree: its socket maxima and its own maximum."""

    socket_max: Mapping[int, Limit]
    station_max: Limit


def station_nodes(
    station_id: str,
    local: LocalLimits,
    connectors: Iterable[int],
    caps: OperatorCaps,
    *,
    meter_lost: bool,
    unknown_max_a: float,
) -> StationNodes:
    """Socket maxima (`ConnectorN-MaxCurrent`, the connector cap) and the station maximum
    (`Station-MaxCurrent`, `Safe-MaxCurrent` while it reports its meter lost outside an SCN, the
    station cap) of one station, each the lowest of its candidates with its source.

    Unknown maxima (no snapshot yet) are `unknown_max_a` per socket, so the meter and the other
    limits decide. A station in an SCN falls back to the SCN's safe total instead (`scn_nodes`).
    """
    sockets = list(connectors)
    socket_max: dict[int, Limit] = {}
    for c in sockets:
        found = [Limit(local.connector_max_a.get(c, unknown_max_a), LimitSource.CONNECTOR_MAX)]
        if (station_id, c) in caps.connector_a:
            found.append(Limit(caps.connector_a[(station_id, c)], LimitSource.CAP_CONNECTOR))
        socket_max[c] = _lowest(found)
    own = local.station_max_a
    found = [Limit(unknown_max_a * len(sockets) if own is None else own, LimitSource.STATION_MAX)]
    in_scn = local.scn_enabled and local.scn_total_safe_a is not None
    if meter_lost and not in_scn and local.safe_max_a is not None:
        found.append(Limit(local.safe_max_a, LimitSource.STATION_SAFE))
    if station_id in caps.station_a:
        found.append(Limit(caps.station_a[station_id], LimitSource.CAP_STATION))
    return StationNodes(socket_max, _lowest(found))


@dataclass(frozen=True, slots=True)
class ScnNode:
    """A Smart Charging Network as a circuit of the tree: its stations and their total."""

    network: str
    stations: tuple[str, ...]
    limit: Limit


def scn_nodes(
    local: Mapping[str, LocalLimits], station_ids: Iterable[str], meter_lost: Iterable[str] = ()
) -> list[ScnNode]:
    """One node per SCN network of these stations with a total: `SCN-TotalStaticCurrent`, or the
    lower `SCN-TotalSafeCurrent` while one of its stations reports its meter lost."""
    lost = set(meter_lost)
    members: dict[str, list[str]] = defaultdict(list)
    for station_id in station_ids:
        limits = local.get(station_id)
        if limits is not None and limits.scn_enabled:
            members[limits.scn_network or ""].append(station_id)
    out = []
    for network, stations in members.items():
        found = []
        static = [t for s in stations if (t := local[s].scn_total_static_a) is not None]
        if static:
            found.append(Limit(min(static), LimitSource.SCN_SHARE, network))
        if lost.intersection(stations):
            safe = [t for s in stations if (t := local[s].scn_total_safe_a) is not None]
            if safe:
                found.append(Limit(min(safe), LimitSource.SCN_SAFE, network))
        if found:
            out.append(ScnNode(network, tuple(stations), _lowest(found)))
    return out


def predict(
    limits: Mapping[ConnectorKey, Limit],
    stations: Mapping[str, LocalLimits],
    *,
    in_use: Iterable[ConnectorKey] | None = None,
    meter_lost: Iterable[str] = (),
) -> dict[ConnectorKey, Limit]:
    """What each station will apply to each connector given our `limits`: the lowest of our
    limit and its own local limits as it splits them (a prediction, to explain and verify).

    The station and SCN totals are split equally over the sockets the stations count as in use
    (`in_use`; default: those in `limits`), as Alfen's Standard LB and SCN do until they see a
    socket draw less; a double with two sockets in use gets twice the socket share. On a tie
    the station's own limit is named rather than ours.
    """
    in_use_set = set(limits) if in_use is None else set(in_use) | set(limits)
    lost = set(meter_lost)
    per_station: dict[str, int] = defaultdict(int)
    per_scn: dict[str, int] = defaultdict(int)
    for station_id, _ in in_use_set:
        per_station[station_id] += 1
        local = stations.get(station_id)
        if local is not None and local.scn_enabled:
            per_scn[local.scn_network or ""] += 1
    out: dict[ConnectorKey, Limit] = {}
    for key, ours in limits.items():
        station_id, connector_id = key
        local = stations.get(station_id, LocalLimits())
        found = _station_applies(local, connector_id, per_station[station_id], per_scn, lost,
                                 station_id)  # fmt: skip
        found.append(ours)
        out[key] = _lowest(found)
    return out


def _station_applies(
    local: LocalLimits,
    connector_id: int,
    station_sockets: int,
    per_scn: Mapping[str, int],
    lost: set[str],
    station_id: str,
) -> list[Limit]:
    found: list[Limit] = []
    if connector_id in local.connector_max_a:
        found.append(Limit(local.connector_max_a[connector_id], LimitSource.CONNECTOR_MAX))
    if local.station_max_a is not None:
        found.append(Limit(local.station_max_a / station_sockets, LimitSource.STATION_MAX))
    scn_sockets = per_scn.get(local.scn_network or "", 0) if local.scn_enabled else 0
    if scn_sockets and local.scn_total_static_a is not None:
        found.append(Limit(local.scn_total_static_a / scn_sockets, LimitSource.SCN_SHARE))
    if station_id in lost:
        if scn_sockets and local.scn_total_safe_a is not None:
            found.append(Limit(local.scn_total_safe_a / scn_sockets, LimitSource.SCN_SAFE))
        elif local.safe_max_a is not None:
            found.append(Limit(local.safe_max_a / station_sockets, LimitSource.STATION_SAFE))
    return found


def nodes_above(site: Site, station_index: int, connector_id: int) -> tuple[Limit, ...]:
    """The limits of the tree above one socket, nearest first: its maximum, its station's (a
    total shared by the station's sockets), its circuits (SCN, cables) and the site cap."""
    station = site.stations[station_index]
    socket = next(k for k in station.sockets if k.connector_id == connector_id)
    out = [
        Limit(socket.max_current_a, socket.max_source, f"{station.id}/{connector_id}"),
        Limit(station.max_current_a, station.max_source, station.id),
    ]
    circuits = {c.id: c for c in site.circuits}
    cid = station.circuit_id
    while cid is not None:
        circuit = circuits[cid]
        out.append(Limit(circuit.limit_a, circuit.source, circuit.id))
        cid = circuit.parent
    if site.cap_a is not None:
        out.append(Limit(site.cap_a, LimitSource.CAP_SITE, site.id))
    return tuple(out)


def free_id(wanted: str, taken: set[str]) -> str:
    """`wanted`, or with a number after it when a configured circuit has that id already."""
    found, n = wanted, 1
    while found in taken:
        n += 1
        found = f"{wanted} ({n})"
    return found


def _lowest(found: list[Limit]) -> Limit:
    best = found[0]
    for limit in found[1:]:
        if limit.value_a < best.value_a:  # strict: on a tie the earlier (more specific) wins
            best = limit
    return best


def _float(value: str | None) -> float | None:
    try:
        amps = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return amps if amps >= 0 else None


def _bool(value: str | None) -> bool:
    return str(value).strip().lower() in ("true", "1", "on", "yes")
