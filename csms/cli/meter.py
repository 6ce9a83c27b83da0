"""`csms meter read`: read a grid meter once and print per-phase values ("Test Smart Meter")."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from pydantic import ValidationError

from csms.cli.device_read import add_read_command, print_read, read_failed
from csms.meter.config import CUSTOM, MeterSettings, known_models, load_custom_map
from csms.meter.modbus import MeterReadError, quiet_pymodbus, read_once
from csms.meter.reading import InvalidReading, MeterReading


def register(subparsers: Any) -> None:
    """Add `meter read` to the `csms` command."""
    read = add_read_command(
        subparsers,
        "meter",
        summary="grid meter tools for installers",
        help_text="read a Modbus TCP meter once and print per-phase current, power and voltage",
        description="Read a Modbus TCP grid meter once (like Alfen's Test Smart Meter button).",
        host_help="meter (or gateway) IP address or name",
        func=run_read,
    )
    read.add_argument("--unit", type=int, default=None, help="unit id (default: the model's)")
    read.add_argument(
        "--model",
        default="socomec-e27",
        help=f"meter preset (default socomec-e27): {known_models()}",
    )
    read.add_argument(
        "--map", metavar="FILE", help="custom register map (TOML); implies --model custom"
    )


def _settings(args: argparse.Namespace) -> MeterSettings:
    data: dict[str, Any] = {
        "type": "modbus",
        "host": args.host,
        "port": args.port,
        "model": CUSTOM if args.map else args.model,
        "timeout_s": args.timeout,
    }
    if args.unit is not None:
        data["unit"] = args.unit
    if args.map:
        data["custom"] = load_custom_map(args.map)
    return MeterSettings.model_validate(data)


def _format(reading: MeterReading, settings: MeterSettings) -> str:
    lines = [
        f"{settings.describe()}  (+ import, - export)",
        f"{'':9}{'L1':>11}{'L2':>11}{'L3':>11}",
    ]
    lines.append("current  " + "".join(f"{v:>9.2f} A" for v in reading.current_a))
    if reading.power_w is not None:
        lines.append("power    " + "".join(f"{v:>9.0f} W" for v in reading.power_w))
    if reading.voltage_v is not None:
        lines.append("voltage  " + "".join(f"{v:>9.1f} V" for v in reading.voltage_v))
    return "\n".join(lines)


def run_read(args: argparse.Namespace) -> int:
    """Handler of `csms meter read`; exit 1 when the meter cannot be read, 2 on bad options."""
    quiet_pymodbus()
    try:
        settings = _settings(args)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = f"--{where or 'options'}: {first['msg']}" if where else first["msg"]
        else:
            message = str(exc)
        print(f"csms meter read: {message}", file=sys.stderr)
        return 2
    try:
        reading = asyncio.run(
            read_once(
                settings.host,
                settings.port,
                settings.unit,
                settings.register_map(),
                timeout_s=settings.timeout_s,
            )
        )
    except (MeterReadError, InvalidReading, OSError) as exc:  # OSError: e.g. an unknown host
        return read_failed("meter", settings.describe(), exc)
    out = reading.as_dict() | {
        "model": settings.model,
        "unit": settings.unit,
        "host": settings.host,
        "port": settings.port,
    }
    return print_read(args, out, lambda: _format(reading, settings))
