"""Smart Charging Network set-up: plan files, the keys of every member, checks, dry runs, apply.

- `plan`: the shape of a plan and reading TOML/YAML plan files;
- `keys`: the rules a plan must follow and every member's computed keys;
- `dry_run`: the computed keys against the stations' latest snapshots;
- `apply` (not re-exported here: it talks to stations): writing a plan through the
  configuration service, with reboots and a final read-back.

The first three are pure (no I/O, no clock); their public names are re-exported here.
"""

from csms.config.scn.dry_run import (
    KeyPlan,
    PlanReport,
    StationFacts,
    StationPlan,
    current_value,
    dry_run,
)
from csms.config.scn.keys import (
    MAX_SOCKETS,
    MIN_STATIONS,
    NAME_RULE,
    ONE_PHASE_ROTATION,
    THREE_PHASE_ROTATION,
    check_plan,
    compute_keys,
    phase_name,
    recommended_phases,
    socket_ids,
    station_phase_mappings,
)
from csms.config.scn.plan import PlanError, PlanStation, ScnPlan, parse_plan, plan_from_dict

__all__ = [
    "MAX_SOCKETS",
    "MIN_STATIONS",
    "NAME_RULE",
    "ONE_PHASE_ROTATION",
    "THREE_PHASE_ROTATION",
    "KeyPlan",
    "PlanError",
    "PlanReport",
    "PlanStation",
    "ScnPlan",
    "StationFacts",
    "StationPlan",
    "check_plan",
    "compute_keys",
    "current_value",
    "dry_run",
    "parse_plan",
    "phase_name",
    "plan_from_dict",
    "recommended_phases",
    "socket_ids",
    "station_phase_mappings",
]
