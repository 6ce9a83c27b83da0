"""The keys of every SCN member computed from a plan, and the rules the plan must follow.

Alfen calls configuring an SCN through a back office "very much prone to errors" (guide 6.3.3.4):
socket ids must form blocks from 0, `SCN-SocketCount` must be the total on every member, the name
and safe currents must be identical everywhere, phase mappings should rotate (guide 6.1.3). Pure.
"""

from __future__ import annotations

import re

from csms.config.catalog import PHASE_CODES, lookup
from csms.config.scn.plan import PlanStation, ScnPlan
from csms.config.validation import InvalidValue, normalise

MAX_SOCKETS = 128  # guide 6.3.1
MIN_STATIONS = 2  # guide 6.3.1
NAME_RULE = "SCN name: only A-Z and 0-9, at most 7 characters (guide 6.3.1)"
_NAME = re.compile(r"[A-Z0-9]{1,7}")
# Guide 6.1.3: 3-phase stations on a 3-phase grid rotate L1L2L3, L3L1L2, L2L3L1 per feeder;
# 1-phase stations take L1, L2, L3, L1, … in turn.
THREE_PHASE_ROTATION = ("L1L2L3", "L3L1L2", "L2L3L1")
ONE_PHASE_ROTATION = ("L1", "L2", "L3")


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
