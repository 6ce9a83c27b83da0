"""`csms modbus read`: read an Alfen station's Modbus slave once ("Test Modbus slave")."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from csms.cli.device_read import add_read_command, print_read, read_failed
from csms.meter.modbus import quiet_pymodbus
from csms.modbus.client import AlfenModbus, ModbusError, SocketReading
from csms.modbus.registers import MODE3_STATUS, SOCKET_FIELDS, Decoded


def register(subparsers: Any) -> None:
    """Add `modbus read` to the `csms` command."""
    add_read_command(
        subparsers,
        "modbus",
        summary="the station's own Modbus TCP slave (Alfen)",
        help_text="read a station's Modbus slave once: identity and every socket's values",
        description="Read an Alfen station's Modbus TCP slave once (unit 200 and its sockets).",
        host_help="the station's IP address or name",
        func=run_read,
    )


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
    try:
        station, sockets = asyncio.run(read_all(args.host, args.port, args.timeout))
    except (ModbusError, OSError) as exc:
        return read_failed("modbus", f"{args.host}:{args.port}", exc)
    out = {
        "host": args.host,
        "port": args.port,
        "station": dict(station.values),
        "sockets": [{"socket": r.socket, **r.values.values} for r in sockets],
    }
    return print_read(args, out, lambda: _format(station, sockets))
