"""Operator commands to stations: `csms remote start|stop`, `unlock`, `availability`, `trigger`,
`clear-cache`, `datatransfer`, `composite`, `profile set|clear`, `reserve`, `firmware`,
`diagnostics` — clients of the running central system's API (csms/api/operations.py, files.py).

Each prints the station's own answer in one line; a refusal or an offline station is a one-line
error (`csms: 409: station X answered Rejected to RemoteStartTransaction`) and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from csms.cli import CliError, command_group
from csms.cli.client import add_api_arguments, api_request, print_json, print_table, when


def _path(station: str, *parts: str) -> str:
    return "/".join([f"/api/v1/stations/{quote(station, safe='')}", *parts])


def _done(args: argparse.Namespace, data: dict[str, Any], text: str | None = None) -> int:
    if args.json:
        print_json(data)
    else:
        print(f"{args.station}: {text or data['action']} {data['status']}")
    return 0


def _remote_start(args: argparse.Namespace) -> int:
    profile = json.loads(Path(args.profile).read_text()) if args.profile else None
    body = {"connector_id": args.connector, "id_tag": args.id_tag, "charging_profile": profile}
    data = api_request(args, "POST", _path(args.station, "remote-start"), body)
    return _done(args, data, f"remote start on connector {args.connector} with {args.id_tag}:")


def _remote_stop(args: argparse.Namespace) -> int:
    body = {"transaction_id": args.transaction}
    data = api_request(args, "POST", _path(args.station, "remote-stop"), body)
    return _done(args, data, f"remote stop of transaction {args.transaction}:")


def _unlock(args: argparse.Namespace) -> int:
    data = api_request(
        args, "POST", _path(args.station, "unlock"), {"connector_id": args.connector}
    )
    return _done(args, data, f"connector {args.connector}:")


def _availability(args: argparse.Namespace) -> int:
    body = {"connector_id": args.connector, "type": args.type.capitalize()}
    data = api_request(args, "POST", _path(args.station, "availability"), body)
    return _done(args, data, f"connector {args.connector} {args.type}:")


TRIGGERS = {
    m.lower(): m
    for m in (
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    )
}


def _trigger(args: argparse.Namespace) -> int:
    message = TRIGGERS.get(args.message.lower())
    if message is None:
        raise CliError(f"MESSAGE must be one of {', '.join(TRIGGERS.values())}")
    body = {"message": message, "connector_id": args.connector}
    data = api_request(args, "POST", _path(args.station, "trigger"), body)
    return _done(args, data, f"trigger {message}:")


def _clear_cache(args: argparse.Namespace) -> int:
    return _done(args, api_request(args, "POST", _path(args.station, "clear-cache"), {}))


def _datatransfer(args: argparse.Namespace) -> int:
    body = {"vendor_id": args.vendor, "message_id": args.message_id, "data": args.data}
    data = api_request(args, "POST", _path(args.station, "data-transfer"), body)
    if not args.json and data["answer"].get("data") is not None:
        print(f"{args.station}: DataTransfer {data['status']}: {data['answer']['data']}")
        return 0
    return _done(args, data)


def _composite(args: argparse.Namespace) -> int:
    query = f"?connector_id={args.connector}&duration_s={args.duration}"
    if args.unit:
        query += f"&unit={args.unit}"
    data = api_request(args, "GET", _path(args.station, "composite-schedule") + query)
    if args.json:
        print_json(data)
        return 0
    schedule = data["answer"].get("chargingSchedule") or {}
    unit = schedule.get("chargingRateUnit", "")
    print(
        f"{args.station}: connector {args.connector} composite schedule from "
        f"{data['answer'].get('scheduleStart', '?')} ({unit})"
    )
    rows = [
        {"start_s": p.get("startPeriod"), "limit": p.get("limit"), "phases": p.get("numberPhases")}
        for p in schedule.get("chargingSchedulePeriod", [])
    ]
    print_table(rows, ["start_s", "limit", "phases"])
    return 0


def _profile(args: argparse.Namespace) -> int:
    if args.profile_action == "set":
        try:
            profile = json.loads(Path(args.file).read_text())
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the profile {args.file}: {exc}") from None
        body = {"connector_id": args.connector, "charging_profile": profile}
        data = api_request(args, "POST", _path(args.station, "charging-profiles"), body)
        return _done(args, data, f"SetChargingProfile on connector {args.connector}:")
    criteria = {
        "id": args.id,
        "connector_id": args.connector,
        "purpose": args.purpose,
        "stack_level": args.stack_level,
    }
    query = "&".join(f"{k}={quote(str(v))}" for k, v in criteria.items() if v is not None)
    data = api_request(args, "DELETE", _path(args.station, "charging-profiles") + "?" + query)
    return _done(args, data)


def _reserve(args: argparse.Namespace) -> int:
    if args.connector == "cancel":
        if args.reservation is None:
            raise CliError("usage: csms reserve cancel STATION ID")
        path = _path(args.reserve_station, "reservations", str(args.reservation))
        data = api_request(args, "DELETE", path)
        station = args.reserve_station
        if args.json:
            print_json(data)
        else:
            print(f"{station}: reservation {data['id']} {data['state']}")
        return 0
    if args.reserve_station is None:
        raise CliError("usage: csms reserve STATION CONNECTOR --id-tag TAG --until TIME")
    station, connector = args.connector, args.reserve_station
    if args.reservation is not None or not connector.isdigit():
        raise CliError("usage: csms reserve STATION CONNECTOR --id-tag TAG --until TIME")
    if args.list:
        rows = api_request(args, "GET", _path(station, "reservations"))
        print_table(
            [{**r, "expiry": when(r["expiry"])} for r in rows],
            ["id", "connector_id", "id_tag", "expiry", "station_status", "state"],
        )
        return 0
    if not args.id_tag or not args.until:
        raise CliError("reserve needs --id-tag TAG and --until TIME (ISO 8601, UTC if no zone)")
    body = {
        "connector_id": int(connector),
        "id_tag": args.id_tag,
        "expiry": args.until,
        "parent_id_tag": args.parent,
    }
    data = api_request(args, "POST", _path(station, "reservations"), body)
    if args.json:
        print_json(data)
    else:
        print(
            f"{station}: reservation {data['id']} on connector {connector} for "
            f"{data['id_tag']} until {when(data['expiry'])} UTC: {data['station_status']}"
        )
    return 0


def _firmware(args: argparse.Namespace) -> int:
    action = args.firmware_action
    if action == "add":
        path = Path(args.file)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc}") from None
        data = _upload(args, f"/api/v1/firmware?name={quote(path.name)}", content)
        if args.json:
            print_json(data)
        else:
            print(
                f"firmware {data['id']}: {data['name']}, {data['size']} bytes, "
                f"sha256 {data['sha256']}"
            )
        return 0
    if action == "list":
        print_table(api_request(args, "GET", "/api/v1/firmware"), ["id", "name", "size", "sha256"])
        return 0
    if action == "status":
        data = api_request(args, "GET", _path(args.station, "firmware"))
        if args.json:
            print_json(data)
            return 0
        steps = " → ".join(s["status"] for s in data["steps"]) or "no progress reported"
        failed = " (FAILED)" if data["failed"] else ""
        print(f"{args.station}: firmware {data['file_id'] or '-'}: {steps}{failed}")
        return 0
    body = {
        "file_id": args.file_id,
        "retries": args.retries,
        "retry_interval_s": args.retry_interval,
    }
    data = api_request(args, "POST", _path(args.station, "firmware"), body)
    return _done(args, data, f"UpdateFirmware with {args.file_id}:")


def _upload(args: argparse.Namespace, path: str, content: bytes) -> Any:
    headers = {"Content-Type": "application/octet-stream"}
    token = os.environ.get("CSMS_API_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(
            args.api.rstrip("/") + path, content=content, headers=headers, timeout=600
        )
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the API at {args.api}: {exc}") from None
    if response.status_code >= 400:
        raise CliError(f"{response.status_code}: {response.json().get('detail', response.text)}")
    return response.json()


def _diagnostics(args: argparse.Namespace) -> int:
    if args.status:
        data = api_request(args, "GET", _path(args.station, "diagnostics"))
        if args.json:
            print_json(data)
            return 0
        steps = " → ".join(s["status"] for s in data["steps"]) or "no progress reported"
        print(f"{args.station}: diagnostics {data['file_name'] or '-'}: {steps}")
        print_table(
            [{**f, "stored_at": when(f["stored_at"])} for f in data["files"]],
            ["id", "name", "size", "sha256", "stored_at"],
        )
        return 0
    body = {"start": args.start, "stop": args.stop, "location": args.location}
    data = api_request(args, "POST", _path(args.station, "diagnostics"), body)
    name = data["answer"].get("fileName")
    return _done(args, data, f"GetDiagnostics ({name or 'no file name'}):")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = command_group(subparsers, "remote", "remote start or stop of a transaction")
    start = remote.add_parser("start", help="RemoteStartTransaction")
    start.add_argument("station")
    start.add_argument("connector", type=int)
    start.add_argument("--id-tag", required=True, help="the idTag (Alfen: one it accepts)")
    start.add_argument("--profile", help="a JSON file with a TxProfile to start with")
    start.set_defaults(func=_remote_start)
    stop = remote.add_parser("stop", help="RemoteStopTransaction")
    stop.add_argument("station")
    stop.add_argument("transaction", type=int)
    stop.set_defaults(func=_remote_stop)
    parsers = [start, stop]

    def command(name: str, summary: str, func: Any) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, help=summary)
        parser.add_argument("station")
        parser.set_defaults(func=func)
        parsers.append(parser)
        return parser

    command("unlock", "UnlockConnector", _unlock).add_argument("connector", type=int)
    avail = command("availability", "ChangeAvailability (connector 0: station)", _availability)
    avail.add_argument("connector", type=int)
    avail.add_argument("type", choices=["operative", "inoperative"], type=str.lower)
    trig = command("trigger", "TriggerMessage", _trigger)
    trig.add_argument("message", help=", ".join(TRIGGERS.values()))
    trig.add_argument("--connector", type=int)
    command("clear-cache", "ClearCache", _clear_cache)
    dt = command("datatransfer", "DataTransfer", _datatransfer)
    dt.add_argument("vendor")
    dt.add_argument("--message-id")
    dt.add_argument("--data")
    comp = command("composite", "GetCompositeSchedule now", _composite)
    comp.add_argument("connector", type=int)
    comp.add_argument("--duration", type=int, default=3600, help="seconds (default 3600)")
    comp.add_argument("--unit", choices=["A", "W"])
    diag = command("diagnostics", "GetDiagnostics (upload to this server)", _diagnostics)
    diag.add_argument("--start")
    diag.add_argument("--stop")
    diag.add_argument("--location", help="an external (FTP) location instead of ours")
    diag.add_argument("--status", action="store_true", help="show progress and files received")

    profile = command_group(subparsers, "profile", "charging profiles by hand")
    pset = profile.add_parser("set", help="SetChargingProfile from a JSON file")
    pset.add_argument("station")
    pset.add_argument("connector", type=int)
    pset.add_argument("file", help="csChargingProfiles as JSON (OCPP field names)")
    pclear = profile.add_parser("clear", help="ClearChargingProfile (no criterion: all)")
    pclear.add_argument("station")
    pclear.add_argument("--id", type=int)
    pclear.add_argument("--connector", type=int)
    pclear.add_argument("--purpose")
    pclear.add_argument("--stack-level", type=int)
    for p in (pset, pclear):
        p.set_defaults(func=_profile, profile_action="set" if p is pset else "clear")
        parsers.append(p)

    # Two forms: `reserve STATION CONNECTOR …` and `reserve cancel STATION ID`.
    res = subparsers.add_parser(
        "reserve", help="ReserveNow, or `reserve cancel STATION ID` (CancelReservation)"
    )
    res.add_argument("connector", metavar="STATION|cancel")
    res.add_argument("reserve_station", nargs="?", metavar="CONNECTOR|STATION")
    res.add_argument("reservation", nargs="?", type=int, metavar="ID")
    res.add_argument("--id-tag")
    res.add_argument("--until", help="expiry, ISO 8601 (UTC without a zone)")
    res.add_argument("--parent", help="parentIdTag")
    res.add_argument("--list", action="store_true", help="list the station's reservations")
    res.set_defaults(func=_reserve)
    parsers.append(res)

    fw = command_group(subparsers, "firmware", "firmware files and updates")
    add = fw.add_parser("add", help="store a firmware file the server then serves")
    add.add_argument("file")
    fw.add_parser("list", help="firmware files stored")
    upd = fw.add_parser("update", help="UpdateFirmware pointing the station at our URL")
    upd.add_argument("station")
    upd.add_argument("file_id")
    upd.add_argument("--retries", type=int)
    upd.add_argument("--retry-interval", type=int, help="seconds")
    st = fw.add_parser("status", help="a station's update progress")
    st.add_argument("station")
    for name, p in fw.choices.items():
        p.set_defaults(func=_firmware, firmware_action=name)
        parsers.append(p)

    for parser in parsers:
        add_api_arguments(parser)
