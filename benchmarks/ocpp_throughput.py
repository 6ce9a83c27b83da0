"""OCPP throughput: N stations sending MeterValues (5 sampled values), one call in flight each.

Runs the same load against `csms serve` (validation + durable SQLite writes) and against the naive
reference server (`reference_server.py`: the ocpp library's example-style central system, no
storage), each in its own process, and prints messages/s, p50/p99 latency and the ratio.

    .venv/bin/python benchmarks/ocpp_throughput.py [--stations 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets

HERE = Path(__file__).resolve().parent


def meter_values_frame(uid: int, tx: int) -> str:
    values = [
        {"value": "16.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "15.5", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
        {"value": "15.8", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": str(100000 + uid), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    ]
    payload = {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [{"timestamp": "2026-11-21T10:00:00Z", "sampledValue": values}],
    }
    return json.dumps([2, str(uid), "MeterValues", payload])


async def station(url: str, index: int, stop_at: float, latencies: list[float]) -> int:
    async with websockets.connect(
        f"{url}/BENCH-{index:04d}", subprotocols=["ocpp1.6"], compression=None
    ) as ws:
        sent = 0
        while time.perf_counter() < stop_at:
            frame = meter_values_frame(sent, 1)
            began = time.perf_counter()
            await ws.send(frame)
            reply = await ws.recv()
            latencies.append(time.perf_counter() - began)
            if not reply.startswith("[3,"):
                raise RuntimeError(f"unexpected reply {reply[:200]}")
            sent += 1
        return sent


async def load(url: str, stations: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    began = time.perf_counter()
    stop_at = began + seconds
    counts = await asyncio.gather(*(station(url, i, stop_at, latencies) for i in range(stations)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "messages": sum(counts),
        "per_s": sum(counts) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


SERVER_CPUS: set[int] | None = None


def _pin_server() -> None:
    if SERVER_CPUS:
        os.sched_setaffinity(0, SERVER_CPUS)


async def spawn(args: list[str], pattern: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        preexec_fn=_pin_server,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    match = re.search(pattern, line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, match.group(1)


async def run(stations: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        proc, url = await spawn(
            [
                sys.executable, "-m", "csms.cli", "serve",
                "--database-url", f"sqlite:///{db}",
                "--ocpp-host", "127.0.0.1", "--ocpp-port", "0", "--api-port", "0",
                "--unknown-stations", "accept",
            ],
            r"(ws://\S+)/\{stationId\}",
        )  # fmt: skip
        try:
            full = await load(url, stations, seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM meter_values").fetchone()[0]

    proc, port = await spawn([sys.executable, str(HERE / "reference_server.py")], r"(\d+)")
    try:
        naive = await load(f"ws://127.0.0.1:{port}", stations, seconds)
    finally:
        proc.kill()
        await proc.wait()

    print(f"stations: {stations}, {seconds:g} s per run, 5 sampled values per MeterValues")
    print(f"{'server':<34}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in (("csms (validated + SQLite durable)", full), ("naive ocpp reference", naive)):
        print(f"{name:<34}{r['per_s']:>10.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}")
    print(f"ratio csms / naive: {full['per_s'] / naive['per_s']:.2f}x")
    print(f"sampled values stored: {stored} (expected {int(full['messages']) * 5})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="server on CPU 0, load generator on the other CPUs (one-core server figures)",
    )
    args = parser.parse_args()
    if args.pin and len(os.sched_getaffinity(0)) > 1:
        global SERVER_CPUS
        SERVER_CPUS = {0}
        os.sched_setaffinity(0, os.sched_getaffinity(0) - SERVER_CPUS)
        print("server pinned to CPU 0; load generator on", sorted(os.sched_getaffinity(0)))
    asyncio.run(run(args.stations, args.seconds))


if __name__ == "__main__":
    main()
