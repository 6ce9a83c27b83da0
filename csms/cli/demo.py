"""`csms demo`: the central system, a simulated grid meter and simulated stations, one day fast."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from csms.cli import CliError


def duration(text: str) -> float:
    """Seconds from `90`, `90s`, `30m`, `2h` or `1d`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    factor = units.get(value[-1:])
    number = value[:-1] if factor else value
    try:
        seconds = float(number) * (factor or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (e.g. 3600, 90m, 24h)"
        ) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return seconds


def time_of_day(text: str) -> float:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time of day: {text!r} (e.g. 16:00)") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise argparse.ArgumentTypeError(f"not a time of day: {text!r}")
    return hours * 3600.0 + minutes * 60.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="a simulated site: central system + Alfen stations + grid meter, balanced live",
        description=(
            "Runs the central system (temporary database), a simulated Modbus grid meter with "
            "household and PV load and simulated Alfen stations on this machine, through a "
            "time-compressed day; shows grid current and each socket's limit live and ends with "
            "a summary."
        ),
    )
    parser.add_argument("--stations", type=int, default=3, help="simulated stations (default 3)")
    parser.add_argument("--sockets", type=int, default=4, help="sockets in total (default 4)")
    parser.add_argument("--grid-limit", type=float, default=25.0, help="A per phase (default 25)")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per second (default: the fastest at which the site still reacts "
        "within 30 simulated seconds; 60 with the default --poll)",
    )
    parser.add_argument(
        "--duration", type=duration, default=86400.0, help="simulated time, e.g. 24h (default)"
    )
    parser.add_argument(
        "--start", type=time_of_day, default=16 * 3600.0, help="time of day to start (16:00)"
    )
    parser.add_argument(
        "--poll", type=float, default=0.1, help="meter poll interval, real s (default 0.1)"
    )
    parser.add_argument("--api-port", type=int, default=0, help="API port (default: any free)")
    parser.add_argument("--ocpp-port", type=int, default=0, help="OCPP port (default: any free)")
    parser.add_argument(
        "--headless", action="store_true", help="no live view (also when not on a terminal)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from csms.demo import DemoOptions, render, render_summary, run_demo

    try:
        options = DemoOptions(
            stations=args.stations,
            sockets=args.sockets,
            grid_limit_a=args.grid_limit,
            speed=args.speed,
            duration_s=args.duration,
            start_s=args.start,
            poll_interval_s=args.poll,
            api_port=args.api_port,
            ocpp_port=args.ocpp_port,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    headless = args.headless or args.json or not sys.stdout.isatty()

    async def main() -> int:
        if headless:
            summary = await run_demo(options)
        else:
            from rich.console import Console
            from rich.live import Live

            console = Console()
            with Live(console=console, refresh_per_second=1, transient=False) as live:
                summary = await run_demo(options, on_frame=lambda s: live.update(render(s)))
        if args.json:
            print(json.dumps(summary.as_dict(), indent=2))
        else:
            from rich.console import Console

            Console().print(render_summary(summary))
        return 0 if summary.seconds_above_beyond_reaction == 0 else 3

    try:
        return asyncio.run(main())
    except OSError as exc:
        raise CliError(f"demo could not start: {exc}") from None
