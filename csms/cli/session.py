"""`csms session …` and `csms tag defaults …`: departures, energy needs and phases (issue 11).

    csms session set STATION CONNECTOR --departure 07:30 --energy-kwh 20 --phases 1
    csms session show STATION CONNECTOR
    csms session list SITE
    csms tag defaults CARD1 --departure 07:30 --energy-kwh 20 --phases 3   (no option: show)

An `HH:MM` departure is the next such time in `--timezone` (default: this machine's zone).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from csms.cli import CliError, command_group
from csms.cli.client import add_api_arguments, api_request, print_json, print_table, when


def local_timezone() -> str:
    """This machine's IANA zone: $TZ, else /etc/localtime's target, else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if ("/" in tz) or tz == "UTC":
        return tz
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"


def _phases(text: str) -> int:
    if text not in ("1", "2", "3"):
        raise argparse.ArgumentTypeError(f"phases must be 1, 2 or 3, not {text!r}")
    return int(text)


def _plan_arguments(parser: argparse.ArgumentParser, departure_help: str) -> None:
    parser.add_argument("--departure", metavar="HH:MM|ISO", help=departure_help)
    parser.add_argument("--energy-kwh", type=float, metavar="N", help="energy need (kWh)")
    parser.add_argument("--phases", type=_phases, metavar="1|3", help="phases the EV uses")
    parser.add_argument(
        "--timezone",
        default=None,
        help="IANA zone of an HH:MM departure (default: this machine's)",
    )
    add_api_arguments(parser)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    session = command_group(subparsers, "session", "departure, energy need and phases of a session")
    p = session.add_parser("set", help="tell a running session's departure, energy need, phases")
    p.add_argument("station")
    p.add_argument("connector", type=int)
    _plan_arguments(p, "when the EV leaves: HH:MM (the next one) or an ISO time with offset")
    p.set_defaults(func=run_set)
    p = session.add_parser("show", help="a running session's plan, progress and forecast")
    p.add_argument("station")
    p.add_argument("connector", type=int)
    add_api_arguments(p)
    p.set_defaults(func=run_show)
    p = session.add_parser("list", help="every running session of a site with its forecast")
    p.add_argument("site")
    add_api_arguments(p)
    p.set_defaults(func=run_list)
    tag = command_group(subparsers, "tag", "what is known per idTag")
    p = tag.add_parser("defaults", help="show or set an idTag's usual departure, need and phases")
    p.add_argument("id_tag")
    _plan_arguments(p, "usual departure, HH:MM")
    p.set_defaults(func=run_tag)


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "departure": args.departure,
        "energy_kwh": args.energy_kwh,
        "phases": args.phases,
        "timezone": args.timezone or local_timezone(),
    }
    return body


def _show(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    f = view.get("forecast")
    verdict = "-" if f is None else ("on track" if f["on_track"] else "will miss its departure")
    need = "" if f is None or f["needed_a"] is None else f", needs {f['needed_a']:.1f} A"
    lines = [
        f"{view['station_id']}/{view['connector_id']}  transaction {view['transaction_id']}  "
        f"idTag {view['id_tag']}",
        f"departure   {when(view['departure_at']) or '-'} UTC "
        f"({view['departure_from'] or 'not told'})",
        f"energy need {_kwh(view['energy_kwh'])} ({view['energy_from'] or 'not told'}), "
        f"delivered {_kwh(view['delivered_kwh'])}, to go {_kwh(view['energy_to_go_kwh'])}",
        f"phases      {view['phases'] or '-'} ({view['phases_from'] or 'measured'})",
        f"limit       {_amps(view['limit_a'])}",
        f"forecast    {verdict}{need}",
    ]
    print("\n".join(lines))


def _amps(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} A"


def _kwh(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} kWh"


def run_set(args: argparse.Namespace) -> int:
    if args.departure is None and args.energy_kwh is None and args.phases is None:
        raise CliError("say at least one of --departure, --energy-kwh, --phases")
    path = f"/api/v1/stations/{args.station}/connectors/{args.connector}/session"
    _show(api_request(args, "PUT", path, _body(args)), args.json)
    return 0


def run_show(args: argparse.Namespace) -> int:
    path = f"/api/v1/stations/{args.station}/connectors/{args.connector}/session"
    _show(api_request(args, "GET", path), args.json)
    return 0


def run_list(args: argparse.Namespace) -> int:
    views = api_request(args, "GET", f"/api/v1/sites/{args.site}/sessions")
    if args.json:
        print_json(views)
        return 0
    rows = []
    for v in views:
        f = v["forecast"]
        rows.append(
            {
                "connector": f"{v['station_id']}/{v['connector_id']}",
                "id_tag": v["id_tag"],
                "departure": when(v["departure_at"]),
                "to_go_kwh": v["energy_to_go_kwh"],
                "limit_a": v["limit_a"],
                "forecast": "" if f is None else ("on track" if f["on_track"] else "will miss"),
            }
        )
    print_table(rows, ["connector", "id_tag", "departure", "to_go_kwh", "limit_a", "forecast"])
    return 0


def run_tag(args: argparse.Namespace) -> int:
    path = f"/api/v1/tags/{args.id_tag}/defaults"
    if args.departure is None and args.energy_kwh is None and args.phases is None:
        view = api_request(args, "GET", path)
    else:
        view = api_request(args, "PUT", path, _body(args))
    if args.json:
        print_json(view)
    else:
        learnt = view["learned_phases"] or "-"
        print(
            f"idTag {view['id_tag']}: departure {view['departure'] or '-'} ({view['timezone']}), "
            f"energy {_kwh(view['energy_kwh'])}, phases {view['phases'] or '-'} "
            f"(learnt: {learnt})"
        )
    return 0
