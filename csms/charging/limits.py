"""A station's local limits and the composition of each connector's limit (pure).

Alfen's rule is "the lowest limit leads": a socket gets the minimum of the OCPP profile and its own
local limits (Station-MaxCurrent shared over the sockets in use, ConnectorN-MaxCurrent, its SCN
share, its safe current when it lost its own meter). The central system models those limits from
the station's latest configuration snapshot so it can predict and explain the effective current:

    limit = min(meter-derived allocation, local limits, operator caps)

and every result keeps the source of the limit that binds. On a tie the more specific, static
explanation wins (a station max of 10 A is named even when the allocation is also 10 A).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ConnectorKey = tuple[str, int]  # (station id, connector id)

# Source names shown by the API and the demo.
CONNECTOR_MAX = "connector max"
STATION_MAX = "station max"
SCN_SHARE = "scn share"
STATION_SAFE = "station safe current"
SCN_SAFE = "scn safe current"
CAP_CONNECTOR = "operator cap (connector)"
CAP_STATION = "operator cap (station)"
CAP_SITE = "operator cap (site)"

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
    """A current limit in A and the name of what imposes it."""

    value_a: float
    source: str
    detail: str = ""  # which one, e.g. the grid phase "L2"


@dataclass(frozen=True, slots=True)
class ConnectorLimit:
    """The composed limit of one connector: the binding one plus every candidate considered."""

    value_a: float
    source: str
    candidates: tuple[Limit, ...]
    detail: str = ""


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


def compose_limits(
    allocations: Mapping[ConnectorKey, Limit],
    stations: Mapping[str, LocalLimits],
    *,
    in_use: Iterable[ConnectorKey] | None = None,
    meter_lost: Iterable[str] = (),
    caps: OperatorCaps = OperatorCaps(),
) -> dict[ConnectorKey, ConnectorLimit]:
    """The limit of every allocated connector: min(allocation, local limits, operator caps).

    `allocations` holds the balancing core's result for each charging connector. `in_use` are the
    sockets the stations count as in use when they share their own limits (default: the allocated
    ones); `meter_lost` the stations that report running on their safe current.
    """
    in_use_set = set(allocations) if in_use is None else set(in_use) | set(allocations)
    lost = set(meter_lost)
    per_station: dict[str, int] = defaultdict(int)
    per_scn: dict[str, int] = defaultdict(int)
    for station_id, _ in in_use_set:
        per_station[station_id] += 1
        local = stations.get(station_id)
        if local is not None and local.scn_enabled:
            per_scn[local.scn_network or ""] += 1

    candidates: dict[ConnectorKey, list[Limit]] = {}
    for key in allocations:
        station_id, connector_id = key
        local = stations.get(station_id, LocalLimits())
        found: list[Limit] = []
        if connector_id in local.connector_max_a:
            found.append(Limit(local.connector_max_a[connector_id], CONNECTOR_MAX))
        if local.station_max_a is not None:
            found.append(Limit(local.station_max_a / per_station[station_id], STATION_MAX))
        scn_sockets = per_scn[local.scn_network or ""] if local.scn_enabled else 0
        if scn_sockets and local.scn_total_static_a is not None:
            found.append(Limit(local.scn_total_static_a / scn_sockets, SCN_SHARE))
        if station_id in lost:
            if scn_sockets and local.scn_total_safe_a is not None:
                found.append(Limit(local.scn_total_safe_a / scn_sockets, SCN_SAFE))
            elif local.safe_max_a is not None:
                found.append(Limit(local.safe_max_a / per_station[station_id], STATION_SAFE))
        if key in caps.connector_a:
            found.append(Limit(caps.connector_a[key], CAP_CONNECTOR))
        found.append(allocations[key])
        candidates[key] = found

    limits = {key: _lowest(found) for key, found in candidates.items()}
    # Shared operator caps: fill each connector up to its other limits, fairly, within the total.
    groups: dict[str, list[ConnectorKey]] = defaultdict(list)
    for key in allocations:
        groups[key[0]].append(key)
    for station_id, keys in groups.items():
        if station_id in caps.station_a:
            _share(caps.station_a[station_id], keys, limits, candidates, CAP_STATION)
    if caps.site_a is not None:
        _share(caps.site_a, list(allocations), limits, candidates, CAP_SITE)
    return {
        key: ConnectorLimit(
            limits[key].value_a, limits[key].source, tuple(candidates[key]), limits[key].detail
        )
        for key in allocations
    }


def _lowest(found: list[Limit]) -> Limit:
    best = found[0]
    for limit in found[1:]:
        if limit.value_a < best.value_a:  # strict: on a tie the earlier (more specific) wins
            best = limit
    return best


def _share(
    total_a: float,
    keys: list[ConnectorKey],
    limits: dict[ConnectorKey, Limit],
    candidates: dict[ConnectorKey, list[Limit]],
    source: str,
) -> None:
    """Water-fill `total_a` over `keys`: each gets min(its limit, an equal part of what is left)."""
    remaining = max(0.0, total_a)
    ordered = sorted(keys, key=lambda k: limits[k].value_a)
    for index, key in enumerate(ordered):
        share = remaining / (len(ordered) - index)
        candidates[key].insert(len(candidates[key]) - 1, Limit(share, source))
        if share < limits[key].value_a:  # strict: on a tie the local limit keeps its name
            limits[key] = Limit(share, source)
        remaining -= limits[key].value_a


def _float(value: str | None) -> float | None:
    try:
        amps = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return amps if amps >= 0 else None


def _bool(value: str | None) -> bool:
    return str(value).strip().lower() in ("true", "1", "on", "yes")
