"""`csms site [SITE]`: a site's meter, headroom and every connector's limit with its source."""

from __future__ import annotations

import argparse
import math
from typing import Any

from csms.cli import CliError
from csms.cli.client import add_api_arguments, api_request, print_json, print_table


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "site",
        help="show a site's balancing: meter, available current, limits and binding sources",
    )
    parser.add_argument("site", nargs="?", help="site id (omit to list the sites)")
    parser.add_argument(
        "--cap",
        metavar="AMPS|none",
        help="set the operator cap on the site's EVs (A per phase, shared), or remove it",
    )
    add_api_arguments(parser)
    parser.set_defaults(func=run)


def _phases(values: list[float | None] | None) -> str:
    if not values:
        return "-"
    return " / ".join("-" if v is None else f"{v:.1f}" for v in values) + " A"


def run(args: argparse.Namespace) -> int:
    if args.site is None:
        if args.cap is not None:
            raise CliError("--cap needs a site id")
        sites = api_request(args, "GET", "/api/v1/sites")
        if args.json:
            print_json(sites)
        else:
            rows = [{**s, "stations": ",".join(s["stations"])} for s in sites]
            print_table(rows, ["id", "grid_limit_a", "meter_state", "safe_mode", "stations"])
        return 0
    if args.cap is not None:
        limit: float | None
        if args.cap.lower() == "none":
            limit = None
        else:
            try:
                limit = float(args.cap)
            except ValueError:
                limit = math.nan
            if not math.isfinite(limit):
                raise CliError(f"--cap must be a number of amps or 'none', not {args.cap!r}")
        api_request(args, "PUT", f"/api/v1/sites/{args.site}/cap", {"limit_a": limit})
    site = api_request(args, "GET", f"/api/v1/sites/{args.site}")
    if args.json:
        print_json(site)
        return 0
    _print(site, _online(args, site))
    return 0


def _online(args: argparse.Namespace, site: dict[str, Any]) -> dict[str, bool]:
    """Which of the site's stations are connected now (from the site view, else /stations)."""
    stations = site.get("stations") or []
    if stations and all("online" in s for s in stations):
        return {s["id"]: bool(s["online"]) for s in stations}
    return {s["id"]: bool(s["online"]) for s in api_request(args, "GET", "/api/v1/stations")}


def _connector_row(c: dict[str, Any], online: bool) -> dict[str, Any]:
    """A connector's line; an offline station's last status and targets are not current."""
    row = {
        "connector": f"{c['station_id']}/{c['connector_id']}",
        "status": c["status"],
        "tx": c["transaction_id"],
        "target_a": c["target_a"],
        "accepted_a": c["accepted_a"],
        "composite_a": c["composite_a"],
        "binding": " ".join(x for x in (c.get("source"), c.get("detail")) if x) or None,
    }
    if not online:
        last = f" (last {c['status']})" if c["status"] else ""
        row.update(status=f"offline{last}", target_a=None, accepted_a=None, composite_a=None)
        row["binding"] = "station offline"
    return row


def _print(site: dict[str, Any], online: dict[str, bool]) -> None:
    meter = site["meter"]
    reading = meter.get("last_reading") or {}
    print(f"site {site['id']} · {site['mode']} · grid limit {site['grid_limit_a']:g} A per phase "
          f"(margin {site['margin_a']:g} A)")  # fmt: skip
    age = meter.get("age_s")
    print(
        f"meter {meter['type']}: {meter['state']}"
        + ("" if age is None else f", reading {age:.1f} s old")
        + f" · measured {_phases(reading.get('current_a'))}"
    )
    if site.get("safe_mode"):
        print(f"SAFE MODE: {site.get('safe_reason')} → {site['safe_current_a']:g} A for all EVs")
    print(f"available for EVs {_phases(site.get('available_a'))} · "
          f"allocated {_phases(site.get('allocated_a'))}")  # fmt: skip
    caps = site["caps"]
    if caps["site_a"] is not None:
        print(f"operator cap on the site: {caps['site_a']:g} A")
    rows = [_connector_row(c, online.get(c["station_id"], False)) for c in site["connectors"]]
    print()
    print_table(
        rows, ["connector", "status", "tx", "target_a", "accepted_a", "composite_a", "binding"]
    )
    methods = [f"{s['id']}: {s['method']}" for s in site["stations"] if s["method"]]
    if methods:
        print()
        print("delivered as " + "; ".join(methods))
