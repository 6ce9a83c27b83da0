"""Commands that talk to a running central system's API: `csms stations …`, `csms transactions`."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from urllib.parse import quote

import httpx

from csms.cli import CliError

DEFAULT_API = "http://127.0.0.1:8080"


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        default=os.environ.get("CSMS_API_URL", DEFAULT_API),
        help=f"API base URL (default $CSMS_API_URL or {DEFAULT_API})",
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


def api_request(args: argparse.Namespace, method: str, path: str, json_body: Any = None) -> Any:
    """Call the API; a connection failure or a 4xx/5xx answer becomes a one-line CliError."""
    headers = {}
    token = os.environ.get("CSMS_API_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.request(
            method, args.api.rstrip("/") + path, json=json_body, headers=headers, timeout=60
        )
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the API at {args.api}: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if isinstance(detail, list):  # pydantic validation errors
            detail = "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
            )
        raise CliError(f"{response.status_code}: {detail}")
    return response.json() if response.content else None


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table; empty cells for missing values."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _stations(args: argparse.Namespace) -> int:
    action = args.action
    if action == "list":
        data = api_request(args, "GET", "/api/v1/stations")
        if args.json:
            print_json(data)
        else:
            print_table(data, ["id", "status", "online", "vendor", "model", "firmware_version"])
        return 0
    if not args.station:
        raise CliError(f"stations {action} needs a STATION id")
    if action == "show":
        data = api_request(args, "GET", f"/api/v1/stations/{quote(args.station, safe='')}")
    elif action == "approve":
        data = api_request(args, "POST", f"/api/v1/stations/{quote(args.station, safe='')}/approve")
    elif action == "reject":
        data = api_request(args, "POST", f"/api/v1/stations/{quote(args.station, safe='')}/reject")
    else:  # add
        body = {"id": args.station, "password": args.password}
        data = api_request(args, "POST", "/api/v1/stations", body)
    if args.json or action == "show":
        print_json(data)
    else:
        print(f"{data['id']}: {data['status']}")
    return 0


def _transactions(args: argparse.Namespace) -> int:
    path = (
        f"/api/v1/stations/{quote(args.station, safe='')}/transactions"
        if args.station
        else "/api/v1/transactions"
    )
    data = api_request(args, "GET", path + f"?limit={args.limit}")
    if args.json:
        print_json(data)
    else:
        print_table(
            data,
            ["id", "station_id", "connector_id", "id_tag", "start_time", "stop_time", "energy_wh"],
        )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stations = subparsers.add_parser("stations", help="list, show, add, approve stations")
    stations.add_argument(
        "action", nargs="?", default="list", choices=["list", "show", "approve", "reject", "add"]
    )
    stations.add_argument("station", nargs="?")
    stations.add_argument("--password", help="with add: the station's Basic-auth password")
    add_api_arguments(stations)
    stations.set_defaults(func=_stations)

    transactions = subparsers.add_parser("transactions", help="list transactions")
    transactions.add_argument("--station")
    transactions.add_argument("--limit", type=int, default=50)
    add_api_arguments(transactions)
    transactions.set_defaults(func=_transactions)
