"""Commands that talk to a running central system's API: `csms stations …`, `csms transactions`."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

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


def _send(args: argparse.Namespace, method: str, path: str, **body: Any) -> httpx.Response:
    """One API request with the token; a connection failure or a 4xx/5xx answer becomes a
    one-line CliError (a pydantic validation error as `field: message`)."""
    headers = {}
    token = os.environ.get("CSMS_API_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if "content" in body:
        headers["Content-Type"] = "text/csv"
    try:
        response = httpx.request(
            method, args.api.rstrip("/") + path, headers=headers, timeout=60, **body
        )
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the API at {args.api}: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if isinstance(detail, list):  # pydantic validation errors
            detail = "; ".join(_validation_error(d) for d in detail)
        raise CliError(f"{response.status_code}: {detail}")
    return response


def api_request(args: argparse.Namespace, method: str, path: str, json_body: Any = None) -> Any:
    """Call the API with a JSON body; its JSON answer (None when empty)."""
    response = _send(args, method, path, json=json_body)
    return response.json() if response.content else None


def api_text_request(
    args: argparse.Namespace, method: str, path: str, body: str | None = None
) -> str:
    """Call the API with a text (CSV) body; its answer as text."""
    return _send(args, method, path, content=body).text


def _validation_error(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", [])[1:])
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def when(epoch: float | None) -> str:
    """Epoch seconds as a UTC timestamp (empty for None)."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, ending in … when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(
    rows: list[dict[str, Any]], columns: list[str], max_width: dict[str, int] | None = None
) -> None:
    """A plain aligned table; empty cells for missing values, cells clipped to `max_width`."""
    limits = max_width or {}
    cells = [
        [clip("" if r.get(c) is None else str(r.get(c)), limits.get(c, 10**6)) for c in columns]
        for r in rows
    ]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def print_station(station: dict[str, Any]) -> None:
    """`csms stations show`: the station, then its connectors; times in UTC."""
    online = "online" if station["online"] else "offline"
    seen = f", last seen {when(station['last_seen'])} UTC" if station["last_seen"] else ""
    print(f"{station['id']}: {station['status']}, {online}{seen}")
    labels = {"vendor": "vendor", "model": "model", "serial_number": "serial number",
              "firmware_version": "firmware"}  # fmt: skip
    for key, label in labels.items():
        print(f"  {label + ':':<15}{station[key] or '-'}")
    print(f"  {'booted:':<15}{when(station['boot_at']) + ' UTC' if station['boot_at'] else '-'}")
    print(f"  {'password:':<15}{'set' if station['has_password'] else 'none'}")
    if station["connectors"]:
        print()
        rows = [
            {**c, "connector": c["connector_id"], "updated": when(c["updated_at"])}
            for c in station["connectors"]
        ]
        columns = ["connector", "status", "error_code", "info", "vendor_error_code", "updated"]
        print_table(rows, columns)


def _stations(args: argparse.Namespace) -> int:
    action = args.action
    if action == "list":
        data = api_request(args, "GET", "/api/v1/stations")
        if args.json:
            print_json(data)
        else:
            rows = [{**s, "last_seen": when(s["last_seen"])} for s in data]
            columns = ["id", "status", "online", "last_seen", "vendor", "model", "firmware_version"]
            print_table(rows, columns)
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
    if args.json:
        print_json(data)
    elif action == "show":
        print_station(data)
    else:
        print(f"{data['id']}: {data['status']}")
    return 0


def _transactions(args: argparse.Namespace) -> int:
    if args.action == "close":
        if args.id is None or not args.reason:
            raise CliError("transactions close needs a transaction ID and --reason TEXT")
        tx = api_request(
            args, "POST", f"/api/v1/transactions/{args.id}/close", {"reason": args.reason}
        )
        if args.json:
            print_json(tx)
        else:
            print(f"transaction {tx['id']} closed by hand: {tx['energy_wh']} Wh ({args.reason})")
        return 0
    query = {
        "limit": args.limit,
        "station_id": args.station,
        "id_tag": args.tag,
        "from": args.since,
        "to": args.until,
    }
    data = api_request(
        args,
        "GET",
        "/api/v1/transactions?" + urlencode({k: v for k, v in query.items() if v is not None}),
    )
    if args.json:
        print_json(data)
    else:
        # energy_wh of a running session is its latest meter reading − meterStart.
        rows = [{**t, "stop_time": t["stop_time"] or "(running)"} for t in data]
        print_table(
            rows,
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

    transactions = subparsers.add_parser("transactions", help="list or close transactions")
    transactions.add_argument("action", nargs="?", default="list", choices=["list", "close"])
    transactions.add_argument("id", nargs="?", type=int, help="with close: the transaction")
    transactions.add_argument("--reason", help="with close: why it is closed by hand")
    transactions.add_argument("--station")
    transactions.add_argument("--tag", help="only this id tag")
    transactions.add_argument("--from", dest="since", help="started at or after (ISO 8601)")
    transactions.add_argument("--to", dest="until", help="started before (ISO 8601)")
    transactions.add_argument("--limit", type=int, default=50)
    add_api_arguments(transactions)
    transactions.set_defaults(func=_transactions)
