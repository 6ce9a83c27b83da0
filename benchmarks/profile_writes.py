"""Profile rewrites (possible flash writes) per connector with and without the rewrite bound.

Pure: the delivery planner (`csms.charging.planner`) gets one site's targets each second for an hour
of simulated time — a household load that wanders and jumps, cuts at once (urgent when the grid
would be over), raises ramping at 1 A/s (the site default) — and every command is answered
Accepted at once. Printed per `min_rewrite_interval_s`: SetChargingProfile writes per connector
and minute (cuts, raises, validity renewals), and what the bound costs: seconds per minute a
connector waited below its target for a held raise, and the longest such wait.

    .venv/bin/python benchmarks/profile_writes.py [--minutes 60] [--connectors 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from csms.charging.planner import (
    DECREASE,
    INCREASE,
    RENEW,
    DeliveryPlanner,
    PlannerSettings,
    Target,
)
from csms.charging.profiles import ProfileCapabilities

GRID_A = 32.0
MARGIN_A = 1.0
RAMP_A_PER_S = 1.0  # the site default
CAPS = ProfileCapabilities(max_stack_level=5, max_periods=10)


def household(rng: random.Random, seconds: int) -> list[float]:
    """A wandering load with a jump now and then (kettle, oven, heat pump)."""
    load, out = 4.0, []
    for _ in range(seconds):
        load += rng.uniform(-0.15, 0.15)
        if rng.random() < 1 / 90:
            load += rng.choice((-12.0, 12.0))
        load = min(max(load, 1.0), 24.0)
        out.append(load)
    return out


def _composite(planner: DeliveryPlanner, connector_id: int, now: float) -> dict[str, object]:
    """A station that applies what it accepted."""
    limit = planner.effective_a("S", connector_id, now)
    period = {"startPeriod": 0, "limit": limit}
    return {
        "status": "Accepted",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]},
    }


def run(min_rewrite_s: float, loads: list[float], connectors: int) -> dict[str, float]:
    planner = DeliveryPlanner(
        PlannerSettings(validity_s=300, renew_before_s=150, min_rewrite_s=min_rewrite_s)
    )
    planner.configure_station("S", caps=CAPS, safe_limit_a=6.0, method="TxProfile")
    now0 = 1_700_000_000.0
    targets = [6.0] * connectors
    kinds: Counter[str] = Counter()
    below_s = 0.0
    longest = 0.0
    since: dict[int, float] = {}
    for second, load in enumerate(loads):
        now = now0 + second
        share = max(0.0, (GRID_A - MARGIN_A - load) / connectors)
        for i in range(connectors):
            # Cuts at once (urgent when the grid would be over), raises ramp.
            if share < targets[i]:
                targets[i] = share
            else:
                targets[i] = min(share, targets[i] + RAMP_A_PER_S)
        drawn = sum(planner.effective_a("S", c + 1, now) for c in range(connectors))
        over = load + drawn > GRID_A - MARGIN_A / 2  # as the loop marks cuts urgent
        planner.set_targets(
            Target("S", c + 1, targets[c], "grid", c + 1, urgent=over) for c in range(connectors)
        )
        for _ in range(20):
            batch = planner.next_commands(now, lambda _s: True)
            if not batch:
                break
            for command in batch:
                if command.action == "SetChargingProfile" and command.connector_id > 0:
                    kinds[command.kind] += 1
                planner.on_result(
                    command, "Accepted", now, _composite(planner, command.connector_id, now)
                )
        for c in range(connectors):
            gap = targets[c] - planner.effective_a("S", c + 1, now)
            if gap >= 1.0:  # a raise beyond the deadband not delivered yet
                below_s += 1
                since.setdefault(c, now)
                longest = max(longest, now - since[c])
            else:
                since.pop(c, None)
    per_min = connectors * len(loads) / 60
    return {
        "writes_per_min": sum(kinds.values()) / per_min,
        "decreases": kinds[DECREASE] / per_min,
        "increases": kinds[INCREASE] / per_min,
        "renewals": kinds[RENEW] / per_min,
        "below_s_per_min": below_s / per_min,
        "longest_s": longest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--connectors", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    loads = household(random.Random(args.seed), args.minutes * 60)
    print(f"{args.connectors} connectors, {args.minutes} min, grid {GRID_A:g} A, ramp 1 A/s")
    print("per connector and minute: writes (cuts, raises, renewals); a raise held s, longest s")
    print(f"{'min_rewrite_interval_s':>24}{'writes':>8}{'cuts':>7}{'raises':>8}{'renew':>7}"
          f"{'held s':>8}{'longest':>9}")  # fmt: skip
    for interval in (0.0, 10.0, 30.0, 60.0):
        r = run(interval, loads, args.connectors)
        print(f"{interval:>24g}{r['writes_per_min']:>8.2f}{r['decreases']:>7.2f}"
              f"{r['increases']:>8.2f}{r['renewals']:>7.2f}{r['below_s_per_min']:>8.1f}"
              f"{r['longest_s']:>9.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
