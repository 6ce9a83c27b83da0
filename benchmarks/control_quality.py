"""Control quality: how much of the possible each sharing policy delivered, how fairly, how safely.

For one scenario (default: the demo's day in `examples/demo-day/`, from 16:00 for 24 h) it runs
`csms simulate` once per sharing policy the site settings accept (the site's own setting when this
version has none) and prints per policy:

- delivered / bound: energy delivered against the exact offline optimum (an LP over 60 s steps
  that knows the whole day: usable capacity per phase, station and EV maxima, presence, needs);
- delivered / per-moment max: against the most the EVs present and not full could have taken at
  each moment (no foresight needed), sampled every 60 s; and `/floors`: against the same maximum
  with every EV the policy had charging kept at its minimum or more (the gap between the two is
  what the fairness floors cost: the maximum pauses a 1-phase EV beside a 3-phase one);
- Jain's index among equal EVs wanting current together (time-weighted mean and worst group);
- overload: seconds and ampere-seconds above the grid limit, and seconds beyond the reaction time;
- seconds paused while the EV's phases had room for the minimum current; missed departures.

Each policy runs twice by default: as the drivers said nothing, and with every driver telling
their departure and energy need on arrival (`+departures`, departure-aware sharing).

    .venv/bin/python benchmarks/control_quality.py [--site F --profile F --sessions F]
        [--start 16:00] [--duration 24h] [--step 1] [--policies a,b] [--departures both]
        [--json]

Needs scipy (`pip install -e '.[test]'`). Acceptance targets (issue 11): 0 s above the limit
beyond the reaction time, ≥ 95 % of the per-moment maximum, with departures known ≥ 95 % of the
offline bound, Jain ≥ 0.95 among equal EVs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

# This folder holds a `balancing.py` benchmark that would shadow the `balancing` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from csms.cli.demo import duration, time_of_day  # noqa: E402
from csms.simulate.bound import offline_bound, per_moment  # noqa: E402
from csms.simulate.engine import simulate  # noqa: E402
from csms.simulate.policies import policies  # noqa: E402
from csms.simulate.scenario import load_scenario  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "demo-day"


def measure(
    scenario: Any,
    policy: str | None,
    args: argparse.Namespace,
    bound_kwh: float,
    departures_known: bool = False,
) -> dict[str, Any]:
    started = time.perf_counter()
    result = simulate(
        scenario,
        start_s=args.start,
        duration_s=args.duration,
        step_s=args.step,
        policy=policy,
        departures_known=departures_known,
    )
    elapsed = time.perf_counter() - started
    moments = per_moment(scenario, result)
    mean, worst = result.fairness.index()
    return {
        "policy": (policy or f"(site: {getattr(scenario.site, 'sharing', 'default')})")
        + (" +departures" if departures_known else ""),
        "departures_known": departures_known,
        "delivered_kwh": round(result.delivered_kwh, 2),
        "bound_kwh": round(bound_kwh, 2),
        "delivered_of_bound": round(result.delivered_kwh / bound_kwh, 4) if bound_kwh else None,
        "delivered_of_moment_max": round(moments.ratio, 4),
        "delivered_of_moment_max_floors_kept": round(moments.floors_ratio, 4),
        "jain_mean": None if mean is None else round(mean, 4),
        "jain_worst": None if worst is None else round(worst, 4),
        "jain_moment": None
        if result.fairness.moment_index() is None
        else round(result.fairness.moment_index() or 0, 4),
        "seconds_above_limit": round(result.tally.above_s, 1),
        "ampere_seconds_above_limit": round(result.tally.amp_s, 1),
        "seconds_beyond_reaction": round(result.tally.beyond_reaction_s, 1),
        "reaction_s": result.reaction_s,
        "paused_with_room_s": round(sum(e.paused_free_s for e in result.evs), 1),
        "missed_departures": sum(1 for e in result.evs if e.missed),
        "simulation_s": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(EXAMPLE / "site.toml"))
    parser.add_argument("--profile", default=str(EXAMPLE / "load.csv"))
    parser.add_argument("--sessions", default=str(EXAMPLE / "sessions.csv"))
    parser.add_argument("--start", type=time_of_day, default=16 * 3600.0)
    parser.add_argument("--duration", type=duration, default=86400.0)
    parser.add_argument("--step", type=float, default=1.0, help="simulation step, s")
    parser.add_argument("--bound-step", type=float, default=60.0, help="LP time step, s")
    parser.add_argument("--policies", help="comma-separated (default: all the settings accept)")
    parser.add_argument(
        "--departures",
        choices=("no", "yes", "both"),
        default="both",
        help="drivers tell their departure and energy need (csms simulate --departures-known): "
        "not, all, or one run each (default)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    scenario = load_scenario(args.site, args.profile, args.sessions)
    chosen: list[str | None] = list(policies()) or [None]
    if args.policies:
        chosen = [p.strip() for p in args.policies.split(",") if p.strip()]
    started = time.perf_counter()
    bound = offline_bound(scenario, args.start, args.duration, args.bound_step)
    bound_s = time.perf_counter() - started
    told = {"no": [False], "yes": [True], "both": [False, True]}[args.departures]
    rows = [
        measure(scenario, policy, args, bound.total_kwh, known)
        for known in told
        for policy in chosen
    ]
    if args.json:
        print(json.dumps({"bound_kwh": bound.total_kwh, "bound_s": bound_s, "rows": rows}))
        return 0
    print(
        f"scenario: {args.sessions} from {args.start / 3600:g} h for {args.duration / 3600:g} h; "
        f"offline bound {bound.total_kwh:.1f} kWh (LP, {args.bound_step:g} s steps, "
        f"solved in {bound_s:.1f} s)"
    )
    header = (
        f"{'policy':<34} {'kWh':>7} {'/bound':>7} {'/moment':>8} {'Jain':>6} {'worst':>6} "
        f"{'J(t)':>6} {'/floors':>8} {'above s':>8} {'A·s':>7} {'late s':>7} {'paused+room s':>14} "
        f"{'missed':>6} {'run s':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        jain = "-" if r["jain_mean"] is None else f"{r['jain_mean']:.3f}"
        worst = "-" if r["jain_worst"] is None else f"{r['jain_worst']:.3f}"
        moment = "-" if r["jain_moment"] is None else f"{r['jain_moment']:.3f}"
        of_bound = "-" if r["delivered_of_bound"] is None else f"{r['delivered_of_bound']:.1%}"
        print(
            f"{r['policy']:<34} {r['delivered_kwh']:>7.1f} {of_bound:>7} "
            f"{r['delivered_of_moment_max']:>8.1%} {jain:>6} {worst:>6} {moment:>6} "
            f"{r['delivered_of_moment_max_floors_kept']:>8.1%} "
            f"{r['seconds_above_limit']:>8.0f} {r['ampere_seconds_above_limit']:>7.0f} "
            f"{r['seconds_beyond_reaction']:>7.0f} {r['paused_with_room_s']:>14.0f} "
            f"{r['missed_departures']:>6} {r['simulation_s']:>6.0f}"
        )
    print(
        f"(Jain: over equal EVs' time together; J(t): moment by moment; late s: above the limit "
        f"beyond the {rows[0]['reaction_s']:g} s reaction time; /floors: of the per-moment "
        "maximum that keeps every EV the policy had charging at its minimum or more)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
