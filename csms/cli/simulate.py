"""`csms simulate`: a site's day in simulated time with the real control policy, no sockets."""

from __future__ import annotations

import argparse
import json
import math
import sys

from csms.cli import CliError
from csms.cli.demo import duration, time_of_day


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number ≥ 0, not {text}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="a site's day in simulated time with the real control policy (no sockets)",
        description=(
            "Runs the central system's control policy (balancing, limit composition, profile "
            "delivery) against simulated stations, EVs and a grid meter over a site file "
            "(the [[sites]] settings of `csms serve`), a load/PV profile CSV and a sessions CSV, "
            "and prints energy per EV, fairness, overload and missed departures. "
            "See docs/simulate.md for the file formats."
        ),
    )
    parser.add_argument("--site", required=True, help="TOML file with [[sites]] (as csms serve)")
    parser.add_argument("--profile", required=True, help="CSV: time, household, PV")
    parser.add_argument("--sessions", required=True, help="CSV: arrival, departure, need, …")
    parser.add_argument("--site-id", help="which site of the file (when it has several)")
    parser.add_argument(
        "--start", type=time_of_day, default=0.0, help="time of day to start (default 00:00)"
    )
    parser.add_argument(
        "--duration", type=duration, default=86400.0, help="simulated time, e.g. 24h (default)"
    )
    parser.add_argument(
        "--step", type=_positive, default=1.0, help="simulation step in seconds (default 1)"
    )
    parser.add_argument(
        "--delay",
        type=_not_negative,
        default=1.0,
        help="seconds until a station applies a new limit (default 1)",
    )
    from csms.simulate.policies import policies

    parser.add_argument(
        "--policy",
        help="sharing policy instead of the site's `sharing` setting "
        f"({', '.join(policies()) or 'this version has none'})",
    )
    parser.add_argument(
        "--departures-known",
        action="store_true",
        help="every driver tells their departure and energy need on arrival (else only the "
        "sessions CSV's told_departure / told_energy_kwh columns)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from csms.simulate.engine import simulate
    from csms.simulate.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.site, args.profile, args.sessions, args.site_id)
        result = simulate(
            scenario,
            start_s=args.start,
            duration_s=args.duration,
            step_s=args.step,
            delay_s=args.delay,
            policy=args.policy,
            departures_known=args.departures_known,
        )
    except (ScenarioError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        from rich.console import Console

        from csms.simulate.report import render

        Console(file=sys.stdout, width=None if sys.stdout.isatty() else 110).print(render(result))
    return 0 if result.tally.beyond_reaction_s == 0 else 3
