"""`csms report energy --by tag|station|day|week|month [--from …] [--to …] [--csv]`."""

from __future__ import annotations

import argparse
from urllib.parse import urlencode

from csms.cli import command_group
from csms.cli.client import (
    add_api_arguments,
    api_request,
    api_text_request,
    print_json,
    print_table,
)


def _energy(args: argparse.Namespace) -> int:
    query = {"by": args.by, "from": args.since, "to": args.until}
    if args.csv:
        query["format"] = "csv"
    path = "/api/v1/reports/energy?" + urlencode({k: v for k, v in query.items() if v})
    if args.csv:
        print(api_text_request(args, "GET", path), end="")
        return 0
    rows = api_request(args, "GET", path)
    if args.json:
        print_json(rows)
    else:
        print_table([{args.by: r["key"], **r} for r in rows], [args.by, "sessions", "energy_kwh"])
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = command_group(subparsers, "report", "reports computed in the database")
    energy = report.add_parser("energy", help="energy per tag, station or period")
    energy.add_argument("--by", default="month", choices=["tag", "station", "day", "week", "month"])
    energy.add_argument("--from", dest="since", help="sessions started at or after (ISO 8601)")
    energy.add_argument("--to", dest="until", help="sessions started before (ISO 8601)")
    energy.add_argument("--csv", action="store_true", help="print CSV")
    add_api_arguments(energy)
    energy.set_defaults(func=_energy)
