"""`csms sim stations`: simulated Alfen Eve stations connecting to a central system.

Runs until Ctrl-C; prints one summary line every `--report-every` seconds (booted stations,
sessions, current per grid phase).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import sys
from typing import Any

from csms.cli import CliError, command_group
from csms.sim.clock import SimClock
from csms.sim.configuration import FEATURE_ALB
from csms.sim.ev import SimEv
from csms.sim.modbus_slave import EMS_CONFIG, start_slaves
from csms.sim.phases import PHASE_ROTATIONS
from csms.sim.site import RECOMMENDED_ROTATIONS, SimSite


def register(subparsers: Any) -> None:
    """Add `sim stations` to the `csms` command."""
    p = command_group(
        subparsers, "sim", "simulators (grid meter, stations) for tests and demos"
    ).add_parser(
        "stations",
        help="simulated Alfen stations (OCPP 1.6J clients)",
        description="Connect N simulated Alfen Eve stations to a central system. Runs until "
        "Ctrl-C.",
    )
    p.add_argument("--url", required=True, help="central system URL, e.g. ws://HOST:9000/ocpp")
    p.add_argument("--count", type=int, default=1, help="number of stations (1)")
    p.add_argument("--sockets", type=int, choices=(1, 2), default=1, help="sockets per station")
    p.add_argument("--prefix", default="ALF-", help="station id prefix (ALF-): ALF-0001, …")
    p.add_argument("--first", type=int, default=1, help="number of the first station (1)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated time speed factor (1)")
    p.add_argument("--password", help="HTTP Basic auth password (user = station id)")
    p.add_argument(
        "--phase-rotation",
        default="recommended",
        help="Phase-Connected of every station, or 'recommended' to cycle "
        f"{'/'.join(RECOMMENDED_ROTATIONS)}",
    )
    p.add_argument(
        "--sample-interval", type=int, help="MeterValueSampleInterval in s (station default 900)"
    )
    p.add_argument(
        "--strict-boot",
        action="store_true",
        help="answer CALLs that come before the BootNotification answer with a CALLERROR",
    )
    p.add_argument(
        "--unphased-current",
        action="store_true",
        help="report Current.Import as one value without a phase",
    )
    p.add_argument("--plug-in", action="store_true", help="plug an EV into every socket")
    p.add_argument("--ev-current", type=float, default=16.0, help="EV maximum current, A (16)")
    p.add_argument("--ev-phases", type=int, choices=(1, 2, 3), default=3, help="EV phases (3)")
    p.add_argument(
        "--report-every", type=float, default=10.0, help="seconds between summary lines (10)"
    )
    p.add_argument(
        "--modbus-port-base",
        type=int,
        metavar="P",
        help="serve each station's Modbus TCP slave on P, P+1, … (stations get the ALB licence "
        "and EMS mode on, so they take limits written to register 1210)",
    )
    p.add_argument("--modbus-host", default="127.0.0.1", help="Modbus slaves' address (127.0.0.1)")
    p.set_defaults(func=run_sim_stations)


def _check(args: argparse.Namespace) -> None:
    if not args.url.startswith(("ws://", "wss://")):
        raise CliError(f"--url {args.url!r} must start with ws:// or wss://", code=2)
    if not 1 <= args.count <= 10000:
        raise CliError("--count must be between 1 and 10000", code=2)
    if not (math.isfinite(args.speed) and args.speed > 0):  # NaN compares false to everything
        raise CliError("--speed must be a positive number", code=2)
    if args.first < 0:
        raise CliError("--first must not be negative", code=2)
    if args.phase_rotation != "recommended" and args.phase_rotation not in PHASE_ROTATIONS:
        raise CliError(
            f"--phase-rotation must be 'recommended' or one of {', '.join(PHASE_ROTATIONS)}",
            code=2,
        )
    if args.sample_interval is not None and not 0 <= args.sample_interval <= 86400:
        raise CliError("--sample-interval must be between 0 and 86400 s", code=2)
    if not (math.isfinite(args.ev_current) and args.ev_current > 0):
        raise CliError("--ev-current must be a positive number", code=2)
    base = args.modbus_port_base
    if base is not None and not 1 <= base <= 65535 - args.count + 1:
        raise CliError(f"--modbus-port-base must leave room for {args.count} ports below 65536", 2)
    if not (math.isfinite(args.report_every) and args.report_every > 0):
        raise CliError("--report-every must be a positive number of seconds", code=2)


def build_site(args: argparse.Namespace) -> SimSite:
    """The stations the options describe (not started)."""
    _check(args)
    site = SimSite(SimClock(speed=args.speed))
    rotations = (
        RECOMMENDED_ROTATIONS if args.phase_rotation == "recommended" else (args.phase_rotation,)
    )
    config = {}
    if args.sample_interval is not None:
        config["MeterValueSampleInterval"] = str(args.sample_interval)
    if args.modbus_port_base is not None:
        config.update(EMS_CONFIG)
    site.create(
        args.count,
        args.url,
        prefix=args.prefix,
        first=args.first,
        sockets=args.sockets,
        rotations=rotations,
        password=args.password,
        config=config,
        strict_boot=args.strict_boot,
        unphased_current=args.unphased_current,
        unlocked_features=FEATURE_ALB if args.modbus_port_base is not None else 0,
    )
    return site


def _summary(site: SimSite) -> str:
    booted = sum(1 for s in site.stations if s.booted)
    sessions = sum(len(s.transactions) for s in site.stations)
    l1, l2, l3 = site.grid_currents()
    line = (
        f"{booted}/{len(site.stations)} stations booted, {sessions} transactions, "
        f"EV current L1 {l1:.1f} A, L2 {l2:.1f} A, L3 {l3:.1f} A"
    )
    if any(s.strict_boot for s in site.stations):
        refused = sum(len(s.refused_before_boot) for s in site.stations)
        line += f", {refused} CALL(s) refused before the boot answer"
    return line


_HINTS = {
    "HTTP 401": "wrong or missing --password (the user name is the station id)",
    "HTTP 403": "the central system refuses these stations (rejected, or unknown and refused)",
    "HTTP 404": "wrong path: --url should end in the OCPP path, e.g. ws://HOST:9000/ocpp",
    "ConnectionRefusedError": "nothing listens at --url",
}


def problems(site: SimSite) -> list[str]:
    """Why stations are not running, grouped by reason (empty when all are fine).

    A failed handshake (e.g. HTTP 401 for a wrong password) only shows in the station's
    `last_error`; a BootNotification answered Pending or Rejected only in its status.
    """
    reasons: dict[str, list[str]] = {}
    for station in site.stations:
        if not station.connected and station.last_error:
            hint = next((h for key, h in _HINTS.items() if key in station.last_error), "")
            reason = "cannot connect: " + station.last_error + (f" ({hint})" if hint else "")
        elif station.connected and station.registration_status in ("Pending", "Rejected"):
            reason = f"BootNotification answered {station.registration_status}"
            if station.registration_status == "Pending":
                reason += " (approve with `csms stations approve ID`)"
        else:
            continue
        reasons.setdefault(reason, []).append(station.station_id)
    lines = []
    for reason, ids in reasons.items():
        named = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        lines.append(f"{named}: {reason}")
    return lines


async def _plug_in_when_booted(site: SimSite, args: argparse.Namespace) -> None:
    pending = list(site.stations)
    while pending:
        for station in [s for s in pending if s.booted]:
            for connector in range(1, station.sockets + 1):
                ev = SimEv(
                    max_current_a=args.ev_current,
                    phases=args.ev_phases,
                    id_tag=f"EV-{station.station_id}-{connector}"[:20],
                )
                station.plug_in(connector, ev)
            pending.remove(station)
        await asyncio.sleep(0.2)


async def _run(site: SimSite, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await site.start()
    slaves = await start_slaves(site, args.modbus_host, args.modbus_port_base)
    print(
        f"{len(site.stations)} simulated station(s) connecting to {args.url} "
        f"at {args.speed:g}x speed (Ctrl-C to stop)",
        flush=True,
    )
    plugger = asyncio.create_task(_plug_in_when_booted(site, args)) if args.plug_in else None
    reported: set[str] = set()
    next_summary = loop.time() + args.report_every
    try:
        while not stop.is_set():
            # Problems are reported as soon as they show (checked twice a second), once each.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(0.5, args.report_every))
            current = problems(site)
            for line in current:
                if line not in reported:
                    print(f"warning: {line}", file=sys.stderr, flush=True)
            reported = set(current)
            if loop.time() >= next_summary or stop.is_set():
                next_summary = loop.time() + args.report_every
                print(_summary(site), flush=True)
    finally:
        if plugger is not None:
            plugger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await plugger
        for slave in slaves:
            await slave.stop()
        await site.stop()
        await site.clock.close()


def run_sim_stations(args: argparse.Namespace) -> int:
    """Handler of `csms sim stations`."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        site = build_site(args)
    except ValueError as exc:
        raise CliError(str(exc), code=2) from None
    asyncio.run(_run(site, args))
    return 0
