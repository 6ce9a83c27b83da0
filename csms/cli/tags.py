"""`csms tags …` (id tags / RFID cards) and `csms local-list …` (a station's local list)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from csms.cli import CliError, command_group
from csms.cli.client import (
    add_api_arguments,
    api_request,
    api_text_request,
    print_json,
    print_table,
)


def _q(text: str) -> str:
    return quote(text, safe="")


def _print_tags(args: argparse.Namespace, tags: list[dict[str, Any]]) -> None:
    if args.json:
        print_json(tags)
        return
    columns = ["id_tag", "status", "expiry", "parent_id_tag", "station_id", "note"]
    print_table(tags, columns, {"note": 40})


def _tags(args: argparse.Namespace) -> int:
    action = args.tags_command
    if action == "list":
        _print_tags(args, api_request(args, "GET", "/api/v1/tags"))
    elif action == "add":
        body = {
            "status": args.status,
            "expiry": args.expiry,
            "parent_id_tag": args.parent,
            "station_id": args.station,
            "note": args.note,
        }
        _print_tags(args, [api_request(args, "PUT", f"/api/v1/tags/{_q(args.tag)}", body)])
    elif action in ("block", "unblock"):
        path = f"/api/v1/tags/{_q(args.tag)}/{action}"
        _print_tags(args, [api_request(args, "POST", path)])
    elif action == "remove":
        api_request(args, "DELETE", f"/api/v1/tags/{_q(args.tag)}")
        print(f"removed {args.tag}")
    elif action == "import":
        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        except OSError as exc:
            raise CliError(f"cannot read {args.file}: {exc}") from None
        imported = api_request_csv(args, text)
        print(f"imported {len(imported)} tags")
    elif action == "export":
        text = api_text_request(args, "GET", "/api/v1/tags?format=csv")
        if args.file in (None, "-"):
            sys.stdout.write(text)
        else:
            Path(args.file).write_text(text)
    return 0


def api_request_csv(args: argparse.Namespace, text: str) -> list[dict[str, Any]]:
    import json

    answer: list[dict[str, Any]] = json.loads(
        api_text_request(args, "POST", "/api/v1/tags/import", text)
    )
    return answer


def _local_list(args: argparse.Namespace) -> int:
    station = _q(args.station)
    if args.list_action == "sync":
        data = api_request(args, "POST", f"/api/v1/stations/{station}/local-list/sync")
    else:
        data = api_request(args, "GET", f"/api/v1/stations/{station}/local-list")
    if args.json:
        print_json(data)
    else:
        sent = f", sent {data['sent']} update" if data.get("sent") else ""
        print(
            f"{data['station_id']}: list version {data['list_version']}, station has "
            f"{data['station_version']} ({data['status']}{sent})"
        )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tags = command_group(subparsers, "tags", "id tags (RFID cards): list, add, block, import …")
    listing = tags.add_parser("list", help="list the tags")
    add_api_arguments(listing)
    add = tags.add_parser("add", help="add or replace a tag")
    add.add_argument("tag")
    add.add_argument("--status", default="Accepted", choices=["Accepted", "Blocked", "Expired"])
    add.add_argument("--expiry", help="ISO 8601 time or date (UTC) from which it is Expired")
    add.add_argument("--parent", help="parent id tag (group)")
    add.add_argument("--station", help="valid only at this station")
    add.add_argument("--note")
    add_api_arguments(add)
    for name, summary in (
        ("block", "block a tag"),
        ("unblock", "accept a blocked tag again"),
        ("remove", "remove a tag"),
    ):
        sub = tags.add_parser(name, help=summary)
        sub.add_argument("tag")
        add_api_arguments(sub)
    imp = tags.add_parser("import", help="add or replace tags from a CSV file (- for stdin)")
    imp.add_argument("file")
    add_api_arguments(imp)
    exp = tags.add_parser("export", help="write every tag as CSV (to FILE or stdout)")
    exp.add_argument("file", nargs="?")
    add_api_arguments(exp)
    for parser in tags.choices.values():
        parser.set_defaults(func=_tags)

    local = command_group(subparsers, "local-list", "a station's Local Authorization List")
    for name, summary in (
        ("sync", "bring the station's list in step now"),
        ("show", "the station's list version against ours"),
    ):
        sub = local.add_parser(name, help=summary)
        sub.add_argument("station")
        add_api_arguments(sub)
        sub.set_defaults(func=_local_list, list_action=name)
