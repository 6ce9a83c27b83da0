"""SCN plan files: the shape of a plan (network values and members) and reading TOML/YAML.

Pure: no I/O, no clock. The message of a `PlanError` names the field that is wrong.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

_NETWORK_FIELDS = {
    "name",
    "total_static_current",
    "socket_safe_current",
    "total_safe_current",
    "alternating_period",
    "grid_phases",
    "station_phases",
}
_STATION_FIELDS = {
    "id",
    "sockets",
    "feeders",
    "phases",
    "phase_mapping",
    "station_max_current",
    "connector_max_current",
}


class PlanError(ValueError):
    """The plan file cannot be read (syntax or shape); the message names the field."""


@dataclass(frozen=True, slots=True)
class PlanStation:
    """One member of the network as the plan describes it."""

    id: str
    sockets: int = 1
    feeders: int = 1
    phases: int = 3
    phase_mapping: tuple[str, ...] | None = None  # per socket, names or codes as written
    station_max_current: float | None = None
    connector_max_current: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class ScnPlan:
    """A Smart Charging Network: network-wide values and its members in socket-id order."""

    name: str
    total_static_current: float
    socket_safe_current: float = 6.0
    total_safe_current: float | None = None  # guide 6.3.3.2: without ALB = total max current
    alternating_period: int = 900
    grid_phases: int = 3
    stations: tuple[PlanStation, ...] = ()

    @property
    def socket_count(self) -> int:
        return sum(s.sockets for s in self.stations)


def parse_plan(text: str, fmt: str) -> ScnPlan:
    """Parse a plan written in TOML or YAML (`fmt` is "toml" or "yaml"); raises `PlanError`."""
    try:
        if fmt == "toml":
            data: Any = tomllib.loads(text)
        elif fmt in ("yaml", "yml"):
            data = yaml.safe_load(text)
        else:
            raise PlanError(f"plan format must be toml or yaml, not {fmt!r}")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PlanError(f"plan is not valid {fmt.upper()}: {first}") from None
    return plan_from_dict(data)


def plan_from_dict(data: Any) -> ScnPlan:
    """Build a plan from `{"network": {...}, "stations": [{...}, ...]}`; raises `PlanError`."""
    if not isinstance(data, Mapping):
        raise PlanError("plan must be a table with [network] and [[stations]]")
    extra = set(data) - {"network", "stations"}
    if extra:
        raise PlanError(f"plan: unknown field {sorted(extra)[0]!r} (expected network, stations)")
    network = data.get("network")
    if not isinstance(network, Mapping):
        raise PlanError("plan: [network] table missing")
    unknown = set(network) - _NETWORK_FIELDS
    if unknown:
        raise PlanError(f"network: unknown field {sorted(unknown)[0]!r}")
    if "name" not in network:
        raise PlanError("network.name missing")
    if "total_static_current" not in network:
        raise PlanError("network.total_static_current missing")
    raw_stations = data.get("stations")
    if not isinstance(raw_stations, list):
        raise PlanError("plan: [[stations]] list missing")
    default_phases = _int(network, "station_phases", "network", 3)
    stations = tuple(
        _station(item, i, default_phases) for i, item in enumerate(raw_stations, start=1)
    )
    total_safe = network.get("total_safe_current")
    return ScnPlan(
        name=str(network["name"]),
        total_static_current=_number(network, "total_static_current", "network"),
        socket_safe_current=_number(network, "socket_safe_current", "network", 6.0),
        total_safe_current=None
        if total_safe is None
        else _number(network, "total_safe_current", "network"),
        alternating_period=_int(network, "alternating_period", "network", 900),
        grid_phases=_int(network, "grid_phases", "network", 3),
        stations=stations,
    )


def _station(item: Any, index: int, default_phases: int) -> PlanStation:
    where = f"stations[{index}]"
    if not isinstance(item, Mapping):
        raise PlanError(f"{where}: must be a table")
    unknown = set(item) - _STATION_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        hint = (
            "; network-wide values must be identical on every member, set them under [network]"
            if name in _NETWORK_FIELDS
            else ""
        )
        raise PlanError(f"{where}: unknown field {name!r}{hint}")
    if "id" not in item or not str(item["id"]).strip():
        raise PlanError(f"{where}.id missing")
    where = f"station {item['id']}"
    mapping = item.get("phase_mapping")
    if mapping is not None:
        if isinstance(mapping, str | int):
            mapping = [mapping]
        if not isinstance(mapping, list):
            raise PlanError(f"{where}: phase_mapping must be a list (one per socket)")
        mapping = tuple(str(m) for m in mapping)
    connectors = item.get("connector_max_current")
    if connectors is not None:
        if not isinstance(connectors, list):
            raise PlanError(f"{where}: connector_max_current must be a list (one per socket)")
        connectors = tuple(_as_float(c, f"{where}: connector_max_current") for c in connectors)
    max_current = item.get("station_max_current")
    return PlanStation(
        id=str(item["id"]).strip(),
        sockets=_int(item, "sockets", where, 1),
        feeders=_int(item, "feeders", where, 1),
        phases=_int(item, "phases", where, default_phases),
        phase_mapping=mapping,
        station_max_current=None
        if max_current is None
        else _as_float(max_current, f"{where}: station_max_current"),
        connector_max_current=connectors,
    )


def _number(data: Mapping[str, Any], name: str, where: str, default: float | None = None) -> float:
    if name not in data and default is not None:
        return default
    return _as_float(data[name], f"{where}.{name}")


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PlanError(f"{where} must be a number")
    try:
        return float(value)
    except ValueError:
        raise PlanError(f"{where} must be a number, not {value!r}") from None


def _int(data: Mapping[str, Any], name: str, where: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{where}.{name} must be a whole number")
    return value
