"""`csms events STATION [--since …] [--kind …]` and `csms alerts`."""

from __future__ import annotations

import argparse
from urllib.parse import quote, urlencode

from csms.cli.client import add_api_arguments, api_request, print_json, print_table, when


def _events(args: argparse.Namespace) -> int:
    query: list[tuple[str, str]] = [("limit", str(args.limit))]
    if args.since:
        query.append(("since", args.since))
    query.extend(("kind", k) for k in args.kind or [])
    if args.station in (None, "all"):
        if args.site:
            query.append(("site", args.site))
        path = "/api/v1/events"
    else:
        path = f"/api/v1/stations/{quote(args.station, safe='')}/events"
    data = api_request(args, "GET", f"{path}?{urlencode(query)}")
    if args.json:
        print_json(data)
    else:
        rows = [{**e, "time": when(e["at"])} for e in data]
        print_table(rows, ["time", "station_id", "kind", "summary"], {"summary": 120})
    return 0


def _alerts(args: argparse.Namespace) -> int:
    data = api_request(args, "GET", "/api/v1/alerts")
    if args.json:
        print_json(data)
    elif not data:
        print("no active alerts")
    else:
        rows = [{**a, "since": when(a["since"])} for a in data]
        print_table(rows, ["since", "kind", "message"])
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = subparsers.add_parser("events", help="a station's (or every station's) event log")
    events.add_argument("station", nargs="?", help="station id (omit or 'all': every station)")
    events.add_argument("--since", help="from this time (ISO 8601, UTC)")
    events.add_argument("--kind", action="append", help="only this kind (repeatable)")
    events.add_argument("--site", help="without STATION: only this site's stations")
    events.add_argument("--limit", type=int, default=50)
    add_api_arguments(events)
    events.set_defaults(func=_events)
    alerts = subparsers.add_parser("alerts", help="the active alerts")
    add_api_arguments(alerts)
    alerts.set_defaults(func=_alerts)
