"""`csms scn plan FILE` (dry run) and `csms scn apply FILE`: Smart Charging Network set-up."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from csms.cli import CliError
from csms.cli.client import add_api_arguments, api_request, print_json
from csms.cli.config import REBOOT_CHOICES, poll


def _body(path: str) -> dict[str, Any]:
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise CliError(f"{path}: plan files are .toml, .yaml or .yml")
    try:
        text = file.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    return {"text": text, "format": "toml" if suffix == ".toml" else "yaml"}


def print_report(report: dict[str, Any]) -> None:
    print(f"SCN {report['network']}: {len(report['stations'])} stations, "
          f"{report['socket_count']} sockets")  # fmt: skip
    for station in report["stations"]:
        ids = ", ".join(str(i) for i in station["socket_ids"])
        changes = station["changes"]
        print(f"{station['station_id']} (socket ids {ids}): "
              f"{len(changes) or 'no'} change{'s' if len(changes) != 1 else ''}")  # fmt: skip
        for c in changes:
            reboot = "  (reboot)" if c["reboot"] else ""
            current = c["current"] if c["current"] is not None else "(missing)"
            print(f"  {c['key']}: {current} → {c['desired']}{reboot}")
        for problem in station["problems"]:
            print(f"  problem: {problem}")
    for warning in report["warnings"]:
        print(f"warning: {warning}")


def _plan(args: argparse.Namespace) -> int:
    report = api_request(args, "POST", "/api/v1/scn/plan", _body(args.file))
    if args.json:
        print_json(report)
    else:
        print_report(report)
    if not report["ok"]:
        raise CliError(f"plan refused: {'; '.join(report['problems'])}")
    return 0


def print_job(job: dict[str, Any]) -> None:
    print(f"SCN {job['network']}: apply job {job['id']} {job['state']}"
          f" ({job['changed_keys']} key changes, reboot {job['reboot']})")  # fmt: skip
    for station in job["stations"]:
        states = ", ".join(f"{c['key']} {c['state']}" for c in station["changes"]) or "unchanged"
        verdict = {True: "consistent", False: "NOT consistent", None: "…"}[station["consistent"]]
        print(f"{station['station_id']}: {verdict}; {states}")
        for m in station["mismatches"]:
            print(f"  {m['key']}: station reports {m['reported']!r}, plan wants {m['desired']!r}")


def _apply(args: argparse.Namespace) -> int:
    body = {**_body(args.file), "reboot": args.reboot}
    job = api_request(args, "POST", "/api/v1/scn/apply", body)
    if args.wait and job["state"] == "running":
        print(f"SCN {job['network']}: apply job {job['id']} started; waiting (reboots included)")
        job = poll(
            lambda: api_request(args, "GET", f"/api/v1/scn/jobs/{job['id']}"),
            lambda j: j["state"] != "running",
            args.timeout,
        )
    if args.json:
        print_json(job)
    else:
        print_job(job)
    if job["state"] not in ("done", "running"):
        raise CliError(f"SCN apply {job['state']}: {job['detail']}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scn = subparsers.add_parser("scn", help="plan and apply a Smart Charging Network")
    actions = scn.add_subparsers(dest="action", metavar="ACTION", required=True)
    plan = actions.add_parser("plan", help="dry run: per-station key changes and problems")
    plan.add_argument("file", help="plan file (.toml or .yaml)")
    plan.set_defaults(func=_plan)
    apply = actions.add_parser("apply", help="write the keys that differ, reboot, verify")
    apply.add_argument("file", help="plan file (.toml or .yaml)")
    apply.add_argument("--reboot", choices=REBOOT_CHOICES, default="when-idle")
    apply.add_argument("--no-wait", dest="wait", action="store_false",
                       help="return once the job started")  # fmt: skip
    apply.add_argument("--timeout", type=float, default=1800, help="seconds to wait")
    apply.set_defaults(func=_apply)
    for sub in (plan, apply):
        add_api_arguments(sub)
