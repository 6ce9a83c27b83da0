"""Smart Charging Network planning: plan files, the keys of every member, checks and dry runs.

Alfen calls configuring an SCN through a back office "very much prone to errors" (guide 6.3.3.4):
socket ids must form blocks from 0, `SCN-SocketCount` must be the total on every member, the name
and safe currents must be identical everywhere, phase mappings should rotate (guide 6.1.3). Here a
plan names the network and its stations once; every member's keys are computed from it, checked,
and compared with each station's latest snapshot. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from csms.config.catalog import PHASE_CODES, lookup, spellings
from csms.config.features import parse_unlocked_features
from csms.config.validation import InvalidValue, normalise, values_equal

MAX_SOCKETS = 128  # guide 6.3.1
MIN_STATIONS = 2  # guide 6.3.1
NAME_RULE = "SCN name: only A-Z and 0-9, at most 7 characters (guide 6.3.1)"
_NAME = re.compile(r"[A-Z0-9]{1,7}")
# Guide 6.1.3: 3-phase stations on a 3-phase grid rotate L1L2L3, L3L1L2, L2L3L1 per feeder;
# 1-phase stations take L1, L2, L3, L1, … in turn.
THREE_PHASE_ROTATION = ("L1L2L3", "L3L1L2", "L2L3L1")
ONE_PHASE_ROTATION = ("L1", "L2", "L3")

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


@dataclass(frozen=True, slots=True)
class StationFacts:
    """What the central system knows of a station: registered, online, latest snapshot."""

    known: bool
    online: bool
    config: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """One key of one member: what the station has, what the plan wants."""

    key: str
    current: str | None
    desired: str
    change: bool
    reboot: bool


@dataclass(frozen=True, slots=True)
class StationPlan:
    """The dry run for one member."""

    station_id: str
    socket_ids: tuple[int, ...]
    keys: tuple[KeyPlan, ...]
    problems: tuple[str, ...] = ()

    @property
    def changes(self) -> tuple[KeyPlan, ...]:
        return tuple(k for k in self.keys if k.change)


@dataclass(frozen=True, slots=True)
class PlanReport:
    """The dry run of a whole plan: per-station changes, blocking problems and warnings."""

    network: str
    socket_count: int
    stations: tuple[StationPlan, ...]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing blocks applying the plan."""
        return not self.problems and not any(s.problems for s in self.stations)

    @property
    def all_problems(self) -> list[str]:
        return [
            *self.problems,
            *(f"{s.station_id}: {p}" for s in self.stations for p in s.problems),
        ]


# ---------------------------------------------------------------------------------------------
# Reading plan files


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


# ---------------------------------------------------------------------------------------------
# Computing and checking keys


def check_plan(plan: ScnPlan) -> list[str]:
    """Rule violations of the plan itself (no station facts needed); empty when it is sound."""
    problems = []
    if not _NAME.fullmatch(plan.name):
        problems.append(f"network name {plan.name!r} breaks the rule: {NAME_RULE}")
    if len(plan.stations) < MIN_STATIONS:
        problems.append(f"an SCN needs at least {MIN_STATIONS} stations (guide 6.3.1)")
    if plan.socket_count > MAX_SOCKETS:
        problems.append(
            f"{plan.socket_count} sockets: an SCN has at most {MAX_SOCKETS} (guide 6.3.1)"
        )
    ids = [s.id for s in plan.stations]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"station {dup} is listed twice: station ids must be unique")
    if plan.grid_phases not in (1, 3):
        problems.append(f"network.grid_phases must be 1 or 3, not {plan.grid_phases}")
    for key, value in _network_values(plan).items():
        problems.extend(_value_problem(key, value, "network"))
    for station in plan.stations:
        problems.extend(_station_problems(plan, station))
    return problems


def _station_problems(plan: ScnPlan, station: PlanStation) -> list[str]:
    where = f"station {station.id}"
    out = []
    if station.sockets not in (1, 2):
        out.append(f"{where}: sockets must be 1 or 2, not {station.sockets}")
    if station.feeders not in (1, 2) or station.feeders > max(1, station.sockets):
        out.append(f"{where}: feeders must be 1, or 2 for a double station with two feeder cables")
    if station.phases not in (1, 3):
        out.append(f"{where}: phases must be 1 or 3, not {station.phases}")
    if station.phases == 3 and plan.grid_phases == 1:
        out.append(f"{where}: a 3-phase station cannot sit on a 1-phase grid connection")
    if station.phase_mapping is not None:
        out.extend(_mapping_problems(station, plan.grid_phases))
    if station.connector_max_current is not None:
        if len(station.connector_max_current) != station.sockets:
            out.append(f"{where}: connector_max_current needs one value per socket")
        for i, amps in enumerate(station.connector_max_current, start=1):
            out.extend(_value_problem(f"Connector{i}-MaxCurrent", _fmt(amps), where))
    if station.station_max_current is not None:
        out.extend(_value_problem("Station-MaxCurrent", _fmt(station.station_max_current), where))
    return out


def _mapping_problems(station: PlanStation, grid_phases: int) -> list[str]:
    where = f"station {station.id}"
    mapping = station.phase_mapping or ()
    if len(mapping) not in (1, station.sockets):
        return [f"{where}: phase_mapping needs one entry per socket ({station.sockets})"]
    names = [phase_name(m) for m in mapping]
    out = []
    for raw, name in zip(mapping, names, strict=True):
        if name is None:
            out.append(f"{where}: phase_mapping {raw!r} is not a code 1–9 or one of L1 … L3L2L1")
        elif station.phases == 3 and len(name) == 2:
            out.append(f"{where}: a 3-phase station needs a 3-phase sequence, not {name}")
        elif station.phases == 1 and len(name) != 2:
            out.append(f"{where}: a 1-phase station is fed on one phase (L1, L2 or L3), not {name}")
        elif grid_phases == 1 and name != "L1":
            out.append(f"{where}: on a 1-phase grid every socket is on L1, not {name}")
    if station.sockets == 2 and station.feeders == 1 and len(set(names)) > 1:
        out.append(
            f"{where}: a single-feeder double station has the same mapping on both sockets "
            "(guide 6.3.3.4: SCN-PhaseMapping-1 identical to SCN-PhaseMapping-2)"
        )
    return out


def phase_name(value: str) -> str | None:
    """`L1L2L3`-style name of a phase mapping written as a name or an SCN code 1–9."""
    text = str(value).strip().upper()
    if text.isdigit():
        code = int(text)
        return next((n for n, c in PHASE_CODES.items() if c == code), None)
    return text if text in PHASE_CODES else None


def recommended_phases(feeder_index: int, station_phases: int, grid_phases: int) -> str:
    """Guide 6.1.3's recommended phase sequence for the `feeder_index`-th feeder (from 0)."""
    if grid_phases == 1:
        return "L1"
    rotation = THREE_PHASE_ROTATION if station_phases == 3 else ONE_PHASE_ROTATION
    return rotation[feeder_index % len(rotation)]


def socket_ids(plan: ScnPlan) -> dict[str, tuple[int, ...]]:
    """Socket ids per station: blocks starting at 0, in plan order (guide 6.3.3.4 step 5)."""
    out, next_id = {}, 0
    for station in plan.stations:
        out[station.id] = tuple(range(next_id, next_id + max(1, station.sockets)))
        next_id += max(1, station.sockets)
    return out


def station_phase_mappings(plan: ScnPlan) -> dict[str, tuple[str, str | None]]:
    """Phase sequence names of socket 1 and socket 2 (None for single-socket stations).

    Feeders are counted through the network in plan order: each feeder cable takes the next
    sequence of the recommended rotation; a single-feeder double station carries its feeder's
    sequence on both sockets. A mapping given in the plan wins but still uses up its feeders.
    """
    out: dict[str, tuple[str, str | None]] = {}
    feeder = 0
    for station in plan.stations:
        feeders = station.feeders if station.sockets == 2 else 1
        auto = [
            recommended_phases(feeder + i, station.phases, plan.grid_phases)
            for i in range(max(1, feeders))
        ]
        feeder += max(1, feeders)
        given = [phase_name(m) for m in station.phase_mapping or ()]
        names = [n for n in given if n] if all(given) and given else auto
        first = names[0]
        if station.sockets == 2:
            second = names[1] if len(names) > 1 else first
            out[station.id] = (first, second)
        else:
            out[station.id] = (first, None)
    return out


def _network_values(plan: ScnPlan) -> dict[str, str]:
    total_safe = plan.total_safe_current
    return {
        "SCN-TotalStaticCurrent": _fmt(plan.total_static_current),
        "SCN-SocketSafeCurrent": _fmt(plan.socket_safe_current),
        "SCN-TotalSafeCurrent": _fmt(
            plan.total_static_current if total_safe is None else total_safe
        ),
        "SCN-AlternatingPeriod": str(plan.alternating_period),
    }


def compute_keys(plan: ScnPlan) -> dict[str, dict[str, str]]:
    """Every member's SCN keys (and power keys the plan sets), in the form sent to stations."""
    ids = socket_ids(plan)
    mappings = station_phase_mappings(plan)
    total = str(plan.socket_count)
    network = _network_values(plan)
    out: dict[str, dict[str, str]] = {}
    for station in plan.stations:
        first, second = mappings[station.id]
        keys = {
            "SCN-IsEnabled": "True",
            "SCN-NetworkName": plan.name,
            "SCN-SocketID": str(ids[station.id][0]),
            "SCN-SocketCount": total,
            **network,
            "SCN-PhaseMapping-1": str(PHASE_CODES[first]),
            "SCN-PhaseMapping-2": "0" if second is None else str(PHASE_CODES[second]),
        }
        if station.station_max_current is not None:
            keys["Station-MaxCurrent"] = _fmt(station.station_max_current)
        for i, amps in enumerate(station.connector_max_current or (), start=1):
            keys[f"Connector{i}-MaxCurrent"] = _fmt(amps)
        out[station.id] = {k: _canonical(k, v) for k, v in keys.items()}
    return out


def _canonical(key: str, value: str) -> str:
    spec = lookup(key)
    if spec is None:
        return value
    try:
        return normalise(spec, value)
    except InvalidValue:
        return value  # reported by check_plan; keep it visible in the dry run


def _value_problem(key: str, value: str, where: str) -> list[str]:
    spec = lookup(key)
    if spec is None:
        return []
    try:
        normalise(spec, value)
    except InvalidValue as exc:
        return [f"{where}: {exc}"]
    return []


def _fmt(value: float) -> str:
    return str(float(value))


# ---------------------------------------------------------------------------------------------
# Dry run against the stations' latest snapshots


def current_value(config: Mapping[str, str | None], key: str) -> str | None:
    """The value a snapshot holds for `key` under any of its spellings."""
    for name in spellings(key):
        if name in config:
            return config[name]
    return None


def dry_run(
    plan: ScnPlan,
    facts: Mapping[str, StationFacts],
    others: Mapping[str, Mapping[str, str | None]] | None = None,
) -> PlanReport:
    """Compare every member's computed keys with its latest snapshot and check the stations.

    `facts` describes the plan's stations; `others` holds the latest snapshots of stations that
    are not in the plan, to warn about members of the same network the plan forgot (their
    `SCN-SocketCount` would be wrong).
    """
    problems = check_plan(plan)
    desired = compute_keys(plan)
    ids = socket_ids(plan)
    stations = []
    for station in plan.stations:
        fact = facts.get(station.id, StationFacts(known=False, online=False))
        config = fact.config or {}
        keys = tuple(
            KeyPlan(
                key=key,
                current=current_value(config, key),
                desired=value,
                change=not values_equal(key, value, current_value(config, key)),
                reboot=bool((spec := lookup(key)) and spec.reboot),
            )
            for key, value in desired[station.id].items()
        )
        stations.append(StationPlan(station.id, ids[station.id], keys, _fact_problems(fact)))
    warnings = []
    for other, config in sorted((others or {}).items()):
        if other in desired:
            continue
        same_name = values_equal(
            "SCN-NetworkName", plan.name, current_value(config, "SCN-NetworkName")
        )
        enabled = (current_value(config, "SCN-IsEnabled") or "").lower() == "true"
        if same_name and enabled:
            warnings.append(
                f"station {other} is in SCN {plan.name} by its configuration but not in the plan; "
                "its SCN-SocketCount would be wrong"
            )
    return PlanReport(
        plan.name, plan.socket_count, tuple(stations), tuple(problems), tuple(warnings)
    )


def _fact_problems(fact: StationFacts) -> tuple[str, ...]:
    if not fact.known:
        return ("unknown station (it never connected to this central system)",)
    out = []
    if not fact.online:
        out.append("offline")
    if fact.config is None:
        out.append("no configuration snapshot yet; cannot check its SCN licence")
    else:
        unlocked = current_value(fact.config, "UnlockedFeatures")
        features = parse_unlocked_features(unlocked)
        if features is None:
            out.append(f"cannot read UnlockedFeatures {unlocked!r} to check the SCN licence")
        elif "SCN" not in features:
            out.append(
                f"no Smart Charging Network licence (UnlockedFeatures={unlocked!r}); "
                "unlock it first with the licence workflow"
            )
    return tuple(out)
