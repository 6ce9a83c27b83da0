"""The dry run of an SCN plan: every member's computed keys against its latest snapshot.

Says per member which keys would change (and whether they need a reboot), what blocks applying
(unknown or offline stations, no SCN licence) and which stations the plan forgot. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from csms.config.catalog import lookup, spellings
from csms.config.features import parse_unlocked_features
from csms.config.scn.keys import check_plan, compute_keys, socket_ids
from csms.config.scn.plan import ScnPlan
from csms.config.validation import values_equal


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
