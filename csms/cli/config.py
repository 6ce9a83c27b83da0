"""Configuration commands: `csms config get|set|snapshots|diff|changes|catalog`, `csms reset`,
`csms license` — clients of the running central system's API."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from csms.cli import CliError
from csms.cli.client import add_api_arguments, api_request, print_json, print_table, when

REBOOT_CHOICES = ["never", "when-idle", "now"]
# Change states after which nothing happens without a user action.
SETTLED = {"verified", "not-verified", "accepted", "rejected", "not-supported", "failed",
           "reboot-required"}  # fmt: skip
BAD = {"not-verified", "rejected", "not-supported", "failed"}


def station_path(station: str, *parts: str) -> str:
    return "/".join([f"/api/v1/stations/{quote(station, safe='')}", *parts])


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float) -> Any:
    """Fetch until `done(result)`; a CliError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise CliError(f"still not finished after {timeout_s:g} s; check again later")
        time.sleep(0.2)


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


# -- config get/set/... -------------------------------------------------------------------------


def _get(args: argparse.Namespace) -> int:
    refresh = "?refresh=true" if args.refresh else ""
    if args.key:
        data = api_request(
            args,
            "GET",
            station_path(args.station, "configuration", quote(args.key, safe="")) + refresh,
        )
        if args.json:
            print_json(data)
        else:
            unit = f" {data['unit']}" if data.get("unit") and data["value"] else ""
            flags = " (read-only)" if data["readonly"] else ""
            print(
                f"{data['key']} = {data['value'] if data['value'] is not None else ''}{unit}{flags}"
            )
            if data.get("description"):
                print(f"  {data['description']}")
        return 0
    data = api_request(args, "GET", station_path(args.station, "configuration") + refresh)
    if args.json:
        print_json(data)
        return 0
    print(f"{data['station_id']}: snapshot {data['snapshot_id']} taken {when(data['taken_at'])} "
          f"({data['reason']}), unchanged at {when(data['checked_at'])}, "
          f"{len(data['keys'])} keys")  # fmt: skip
    rows = [
        {
            "key": k["key"],
            "value": k["value"],
            "unit": k["unit"],
            "ro": "ro" if k["readonly"] else "",
            "reboot": "reboot" if k["reboot"] else "",
        }
        for k in data["keys"]
    ]
    print_table(rows, ["key", "value", "unit", "ro", "reboot"])
    return 0


def _change_line(change: dict[str, Any]) -> str:
    detail = f": {change['detail']}" if change.get("detail") else ""
    return (
        f"{change['station_id']} {change['key']}={change['value']}: {change['status']} "
        f"[{change['state']}]{detail}"
    )


def _set(args: argparse.Namespace) -> int:
    path = station_path(args.station, "configuration", quote(args.key, safe=""))
    body = {"value": args.value, "force": args.force, "reboot": args.reboot}
    change = api_request(args, "PUT", path, body)
    _warn(change.get("warnings", []))
    if args.wait and change["state"] not in SETTLED:
        print(_change_line(change))
        change = poll(
            lambda: api_request(
                args,
                "GET",
                station_path(args.station, "configuration", "changes", str(change["id"])),
            ),
            lambda c: c["state"] in SETTLED,
            args.timeout,
        )
    if args.json:
        print_json(change)
    if change["state"] in BAD:
        raise CliError(_change_line(change))
    if not args.json:
        print(_change_line(change))
    return 0


def _snapshots(args: argparse.Namespace) -> int:
    data = api_request(args, "GET", station_path(args.station, "configuration", "snapshots"))
    if args.json:
        print_json(data)
    else:
        rows = [{**s, "taken_at": when(s["taken_at"]), "checked_at": when(s["checked_at"])}
                for s in data]  # fmt: skip
        print_table(rows, ["id", "taken_at", "checked_at", "reason", "key_count"])
    return 0


def _diff(args: argparse.Namespace) -> int:
    query = "&".join(f"{name}={value}" for name, value in (("from", args.from_id),
                     ("to", args.to_id)) if value is not None)  # fmt: skip
    path = station_path(args.station, "configuration", "diff") + (f"?{query}" if query else "")
    data = api_request(args, "GET", path)
    if args.json:
        print_json(data)
        return 0
    old = data["from_snapshot"]
    new = data["to_snapshot"]
    print(f"{data['station_id']}: snapshot {old['id'] if old else '(none)'} → {new['id']} "
          f"({when(old['taken_at']) if old else ''} → {when(new['taken_at'])})")  # fmt: skip
    if not data["changes"]:
        print("no differences")
    for d in data["changes"]:
        sign = {"added": "+", "removed": "-", "changed": "~"}[d["change"]]
        print(f"{sign} {d['key']}: {d['old'] if d['old'] is not None else ''} → "
              f"{d['new'] if d['new'] is not None else ''}")  # fmt: skip
    return 0


def _changes(args: argparse.Namespace) -> int:
    query = f"?state={args.state}" if args.state else ""
    data = api_request(args, "GET", station_path(args.station, "configuration", "changes") + query)
    if args.json:
        print_json(data)
    else:
        columns = ["id", "created_at", "key", "value", "status", "state", "reboot", "detail"]
        print_table([{**c, "created_at": when(c["created_at"])} for c in data], columns)
    return 0


ALLOWED_WIDTH = 40
"""The catalog table's ALLOWED column is cut here (some keys list dozens of values)."""


def _allowed(entry: dict[str, Any]) -> str:
    return str(entry["range"] or ", ".join(entry["choices"]) or entry["pattern"] or "")


def _catalog(args: argparse.Namespace) -> int:
    data = api_request(args, "GET", "/api/v1/configuration/catalog")
    if args.key:
        wanted = args.key.lower()
        data = [k for k in data if wanted in (k["key"].lower(), *(a.lower() for a in k["aliases"]))]
        if not data:
            raise CliError(f"{args.key} is not in the catalog")
    if args.json:
        print_json(data if not args.key else data[0])
    elif args.key:
        entry = data[0]
        print(f"{entry['key']} ({entry['kind']}): {entry['description']}")
        for label, value in (
            ("allowed", _allowed(entry)),
            ("unit", entry["unit"]),
            ("read-only", "yes" if entry["read_only"] else ""),
            ("reboot", "a change needs a reboot" if entry["reboot"] else ""),
            ("feature", entry["feature"]),
            ("aliases", ", ".join(entry["aliases"])),
            ("source", entry["source"]),
        ):
            if value:
                print(f"  {label + ':':<11}{value}")
    else:
        rows = [{**k, "ro": "ro" if k["read_only"] else "", "reboot": "reboot" if k["reboot"]
                 else "", "allowed": _allowed(k)} for k in data]  # fmt: skip
        print_table(
            rows,
            ["key", "kind", "allowed", "unit", "ro", "reboot", "feature"],
            max_width={"allowed": ALLOWED_WIDTH},
        )
        print(f"\n{len(rows)} keys; `csms config catalog KEY` shows one key in full")
    return 0


# -- reset and licence --------------------------------------------------------------------------


def _reset(args: argparse.Namespace) -> int:
    kind = "Hard" if args.hard else "Soft"
    data = api_request(args, "POST", station_path(args.station, "reset"), {"type": kind})
    if args.json:
        print_json(data)
    elif data["status"] != "Accepted":
        raise CliError(f"{args.station}: station answered Reset {data['status']}")
    else:
        print(f"{args.station}: {kind} reset {data['status']}")
    return 0


def _license_line(job: dict[str, Any]) -> str:
    if job["state"] == "done":
        return f"{job['station_id']}: unlocked {', '.join(job['unlocked_names'])}"
    if job["state"] == "failed":
        return f"{job['station_id']}: licence failed: {job['detail']}"
    return f"{job['station_id']}: licence job {job['id']}: {job['step']}"


def _license(args: argparse.Namespace) -> int:
    path = station_path(args.station, "license")
    if not args.key:
        status = api_request(args, "GET", path)
        if args.json:
            print_json(status)
            return 0
        features = ", ".join(status["features"]) or "none"
        print(f"{args.station}: UnlockedFeatures {status['unlocked_features']} ({features})")
        for job in status["jobs"]:
            print(
                f"  job {job['id']} {when(job['created_at'])} [{job['state']}] {_license_line(job)}"
            )
        return 0
    job = api_request(args, "POST", path, {"key": args.key, "reboot": args.reboot})
    if args.wait and job["state"] == "running":
        print(_license_line(job))
        job = poll(
            lambda: next(j for j in api_request(args, "GET", path)["jobs"] if j["id"] == job["id"]),
            lambda j: j["state"] != "running",
            args.timeout,
        )
    if args.json:
        print_json(job)
    if job["state"] == "failed":
        raise CliError(_license_line(job))
    if not args.json:
        print(_license_line(job))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subparsers.add_parser("config", help="read and change station configuration keys")
    actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)

    get = actions.add_parser("get", help="the latest snapshot, or one key")
    get.add_argument("station")
    get.add_argument("key", nargs="?")
    get.add_argument("--refresh", action="store_true", help="read from the station now")
    get.set_defaults(func=_get)

    set_ = actions.add_parser("set", help="validate and send a value (queued while offline)")
    set_.add_argument("station")
    set_.add_argument("key")
    set_.add_argument("value")
    set_.add_argument("--force", action="store_true", help="send an unknown key / unusual value")
    set_.add_argument("--reboot", choices=REBOOT_CHOICES, default="when-idle",
                      help="when a reboot is needed: never, when-idle (default), now")  # fmt: skip
    set_.add_argument("--wait", action="store_true", help="wait for reboot and verification")
    set_.add_argument("--timeout", type=float, default=600, help="seconds --wait waits")
    set_.set_defaults(func=_set)

    snapshots = actions.add_parser("snapshots", help="snapshot history")
    snapshots.add_argument("station")
    snapshots.set_defaults(func=_snapshots)

    diff = actions.add_parser("diff", help="what changed between two snapshots")
    diff.add_argument("station")
    diff.add_argument("--from", dest="from_id", type=int, help="older snapshot id")
    diff.add_argument("--to", dest="to_id", type=int, help="newer snapshot id (default latest)")
    diff.set_defaults(func=_diff)

    changes = actions.add_parser("changes", help="the change queue and history")
    changes.add_argument("station")
    changes.add_argument("--state", help="only this state (e.g. queued)")
    changes.set_defaults(func=_changes)

    catalog = actions.add_parser("catalog", help="every known key with its rules")
    catalog.add_argument("key", nargs="?", help="show this key in full")
    catalog.set_defaults(func=_catalog)

    for sub in (get, set_, snapshots, diff, changes, catalog):
        add_api_arguments(sub)

    reset = subparsers.add_parser("reset", help="reset a station (Soft unless --hard)")
    reset.add_argument("station")
    reset.add_argument("--hard", action="store_true")
    add_api_arguments(reset)
    reset.set_defaults(func=_reset)

    license_ = subparsers.add_parser("license", help="unlock features with a licence key")
    license_.add_argument("station")
    license_.add_argument("key", nargs="?", help="XXXX.XXXX.XXXX.XXXX.XXXX.XXXX; omit to show")
    license_.add_argument("--reboot", choices=REBOOT_CHOICES, default="when-idle")
    license_.add_argument("--wait", action="store_true", help="wait until the features show")
    license_.add_argument("--timeout", type=float, default=600, help="seconds --wait waits")
    add_api_arguments(license_)
    license_.set_defaults(func=_license)
