"""`csms modbus read`: read an Alfen station's Modbus slave once ("Test Modbus slave")."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from csms.meter.modbus import quiet_pymodbus
from csms.modbus.client import AlfenModbus, ModbusError, SocketReading
from csms.modbus.registers import MODE3_STATUS, SOCKET_FIELDS, Decoded


def register(subparsers: Any) -> None:
    """Add `modbus read` to the `csms` command."""
    group = subparsers.add_parser("modbus", help="the station's own Modbus TCP slave (Alfen)")
    group.set_defaults(func=lambda _args: _usage(group))
    sub = group.add_subparsers(dest="modbus_command", metavar="ACTION")
    read = sub.add_parser(
        "read",
        help="read a station's Modbus slave once: identity and every socket's values",
        description="Read an Alfen station's Modbus TCP slave once (unit 200 and its sockets).",
    )
    read.add_argument("--host", required=True, help="the station's IP address or name")
    read.add_argument("--port", type=int, default=502, help="Modbus TCP port (default 502)")
    read.add_argument("--json", action="store_true", help="machine-readable output")
    read.add_argument("--timeout", type=float, default=3.0, help="request timeout in s (default 3)")
    read.set_defaults(func=run_read)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


async def read_all(host: str, port: int, timeout_s: float) -> tuple[Decoded, list[SocketReading]]:
    """Identity and state of the station and of each of its sockets, over one connection."""
    async with AlfenModbus(host, port, timeout_s=timeout_s) as modbus:
        station = await modbus.read_station(scn=True)
        count = station.number("sockets")
        sockets = int(count) if count in (1.0, 2.0) else 1
        return station, [await modbus.read_socket(n) for n in range(1, sockets + 1)]


def _value(value: float | str | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value or '""'
    text = f"{value:.0f}" if value == int(value) else f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def _format(station: Decoded, sockets: list[SocketReading]) -> str:
    s = station
    lines = [
        f"{s.text('name') or '?'}  {s.text('manufacturer') or ''} {s.text('platform') or ''}  "
        f"firmware {s.text('firmware') or '?'}  serial {s.text('serial') or '?'}",
        f"uptime {_value(s.number('uptime_s'), 's')}  active max current "
        f"{_value(s.number('active_max_current_a'), 'A')}  temperature "
        f"{_value(s.number('temperature_c'), '°C')}  OCPP state {_value(s.number('ocpp_state'))}"
        f"  sockets {_value(s.number('sockets'))}",
    ]
    for reading in sockets:
        v = reading.values
        mode3 = reading.mode3 or "?"
        lines.append(f"socket {reading.socket}: Mode 3 {mode3} ({MODE3_STATUS.get(mode3, '?')})")
        for field in SOCKET_FIELDS:
            if field.name != "mode3_state":
                lines.append(f"  {field.name:<24}{_value(v.values.get(field.name), field.unit)}")
    rejected = [
        *s.rejected,
        *(f"socket {r.socket} {n}" for r in sockets for n in r.values.rejected),
    ]
    if rejected:
        lines.append("not available (reserved or not a number): " + ", ".join(rejected))
    return "\n".join(lines)


def run_read(args: argparse.Namespace) -> int:
    """Handler of `csms modbus read`; exit 1 when the station cannot be read."""
    quiet_pymodbus()
    where = f"{args.host}:{args.port}"
    try:
        station, sockets = asyncio.run(read_all(args.host, args.port, args.timeout))
    except (ModbusError, OSError) as exc:
        print(f"csms modbus read: {where}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        out = {
            "host": args.host,
            "port": args.port,
            "station": dict(station.values),
            "sockets": [{"socket": r.socket, **r.values.values} for r in sockets],
        }
        print(json.dumps(out))
    else:
        print(_format(station, sockets))
    return 0
