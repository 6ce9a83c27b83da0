"""`csms sim meter`: a simulated Modbus TCP grid meter with a scriptable household/PV load."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from csms.cli import command_group
from csms.meter.config import load_custom_map
from csms.meter.modbus import quiet_pymodbus
from csms.meter.registers import PRESETS, RegisterMap
from csms.sim.meter import MeterSimulator
from csms.sim.meter_script import LoadScript, triple


def _amps(text: str) -> tuple[float, float, float]:
    """`A` (all three phases) or `A,A,A`."""
    try:
        values = [float(v) for v in text.split(",")]
        return triple(values[0] if len(values) == 1 else values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def register(subparsers: Any) -> None:
    """Add `sim meter` to the `csms` command."""
    meter = command_group(
        subparsers, "sim", "simulators (grid meter, stations) for tests and demos"
    ).add_parser(
        "meter",
        help="a simulated Modbus TCP grid meter",
        description="Serve a grid meter's register map over Modbus TCP; current per phase = "
        "household load - PV production. Runs until Ctrl-C.",
    )
    meter.add_argument("--port", type=int, required=True, help="TCP port (0 = any free port)")
    meter.add_argument("--host", default="127.0.0.1", help="address to listen on")
    meter.add_argument("--model", default="socomec-e27", help=f"preset: {', '.join(PRESETS)}")
    meter.add_argument("--map", metavar="FILE", help="serve a custom register map (TOML) instead")
    meter.add_argument("--unit", type=int, default=None, help="unit id (default: the model's)")
    meter.add_argument(
        "--household-a",
        type=_amps,
        default=(0.0, 0.0, 0.0),
        metavar="A[,A,A]",
        help="household load per phase in A (one value for all phases)",
    )
    meter.add_argument(
        "--pv-a",
        type=_amps,
        default=(0.0, 0.0, 0.0),
        metavar="A[,A,A]",
        help="PV production per phase in A (counts as export)",
    )
    meter.add_argument("--voltage-v", type=float, default=230.0, help="phase voltage (230)")
    meter.add_argument("--script", metavar="FILE", help="load/PV/outage script (TOML or JSON)")
    meter.set_defaults(func=run_sim_meter)


def _simulator(args: argparse.Namespace) -> MeterSimulator:
    model: str | RegisterMap = args.model
    if args.map:
        model = load_custom_map(args.map).register_map(default_unit=args.unit or 1)
    load = LoadScript.load(args.script) if args.script else LoadScript(args.household_a, args.pv_a)
    return MeterSimulator(model, unit=args.unit, load=load, voltage_v=args.voltage_v)


async def _serve(sim: MeterSimulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    bound = await sim.start(host, port)
    try:
        print(
            f"simulated {sim.register_map.name} meter: modbus tcp {host}:{bound} unit {sim.unit} "
            "(Ctrl-C to stop)",
            flush=True,
        )
        await stop.wait()
    finally:
        await sim.stop()


def run_sim_meter(args: argparse.Namespace) -> int:
    """Handler of `csms sim meter`; exit 1 on a bad option or a port that cannot be bound."""
    quiet_pymodbus()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not 0 <= args.port <= 65535:
        print(f"csms sim meter: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    try:
        sim = _simulator(args)
    except ValueError as exc:
        print(f"csms sim meter: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(sim, args.host, args.port))
    except OSError as exc:
        print(f"csms sim meter: {exc}", file=sys.stderr)  # it names the address
        return 1
    return 0
