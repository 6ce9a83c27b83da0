"""Fairness: 50 stations send MeterValues (10/s each, one call in flight) while one station floods
schema-invalid frames at full speed, reconnecting whenever it is closed.

Three runs against `csms serve` (SQLite), each in its own server process: no flood; flood with the
default per-station rate limit; flood with the limit lifted (CSMS_MESSAGE_RATE_PER_S and
CSMS_MESSAGE_BURST set huge, i.e. how the server behaved before). Prints the 50 stations'
p50/p99 latency per run and what the flooder achieved. Target: p99 with flood ≤ 2× without.

    .venv/bin/python benchmarks/fairness.py [--stations 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets
from ocpp_throughput import meter_values_frame, spawn

JUNK = json.dumps([2, "j", "Heartbeat", {"not": "allowed"}])
UNLIMITED = {"CSMS_MESSAGE_RATE_PER_S": "1e9", "CSMS_MESSAGE_BURST": "1000000000"}


async def station(url: str, index: int, stop_at: float, latencies: list[float]) -> None:
    async with websockets.connect(
        f"{url}/FAIR-{index:04d}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression=None,
    ) as ws:
        sent = 0
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            await ws.send(meter_values_frame(sent, 1))
            reply = await ws.recv()
            latencies.append(time.perf_counter() - began)
            if not isinstance(reply, str) or not reply.startswith("[3,"):
                raise RuntimeError(f"unexpected reply {reply!r:.200}")
            sent += 1
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - began)))


async def flood(url: str, seconds: float) -> None:
    """The flooder (its own process): junk at full speed; reconnects when closed."""
    stop_at = time.perf_counter() + seconds
    sent = answered = connections = 0
    closes: dict[str, int] = {}
    while time.perf_counter() < stop_at:
        connections += 1
        try:
            ws = await websockets.connect(f"{url}/FLOODER", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        except (OSError, websockets.InvalidHandshake):
            await asyncio.sleep(0.1)
            continue

        async def drain(ws: websockets.ClientConnection = ws) -> int:
            count = 0
            with contextlib.suppress(websockets.ConnectionClosed):
                async for _ in ws:
                    count += 1
            return count

        reader = asyncio.create_task(drain())
        with contextlib.suppress(websockets.ConnectionClosed):
            while time.perf_counter() < stop_at:
                for _ in range(100):
                    await ws.send(JUNK)
                sent += 100
        await ws.close()
        answered += await reader
        code = str(ws.close_code)
        closes[code] = closes.get(code, 0) + 1
    print(json.dumps({"sent": sent, "answered": answered, "connections": connections, **closes}))


async def measure(url: str, stations: int, seconds: float, with_flood: bool) -> dict[str, object]:
    latencies: list[float] = []
    flooder = None
    if with_flood:
        flooder = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--flood", url, "--seconds", str(seconds + 1),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(1)  # the flood is on before the measurement starts
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(station(url, i, stop_at, latencies) for i in range(stations)))
    flooded: dict[str, object] = {}
    if flooder is not None:
        out, _ = await flooder.communicate()
        flooded = json.loads(out.decode().strip().splitlines()[-1])
    latencies.sort()
    return {
        "messages": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "flood": flooded,
    }


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_one(
    stations: int, seconds: float, with_flood: bool, env: dict[str, str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(env)
        try:
            proc, url = await spawn(
                [
                    sys.executable, "-m", "csms.cli", "serve",
                    "--database-url", f"sqlite:///{Path(tmp) / 'fair.sqlite3'}",
                    "--ocpp-host", "127.0.0.1", "--ocpp-port", "0", "--api-port", "0",
                    "--unknown-stations", "accept",
                ],
                r"(ws://\S+)/\{stationId\}",
            )  # fmt: skip
        finally:
            for key in env:
                os.environ.pop(key, None)
        try:
            before = _cpu_s(proc.pid)
            result = await measure(url, stations, seconds, with_flood)
            result["server_cpu_s"] = _cpu_s(proc.pid) - before
            return result
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()


async def run(stations: int, seconds: float) -> None:
    runs = [
        ("no flood", False, {}),
        ("flood, rate limit on (defaults)", True, {}),
        ("flood, rate limit lifted", True, UNLIMITED),
    ]
    results = [(name, await run_one(stations, seconds, flood, env)) for name, flood, env in runs]
    print(f"{stations} stations, MeterValues 10/s each, {seconds:g} s per run")
    print(f"{'run':<34}{'messages':>10}{'p50 ms':>10}{'p99 ms':>10}{'srv cpu s':>10}   flooder")
    for name, r in results:
        f = r["flood"]
        flooder = (
            f"sent {f['sent']}, answered {f['answered']}, connections {f['connections']}, "
            f"closes { ({k: v for k, v in f.items() if k.isdigit() or k == 'None'}) }"
            if f
            else "-"
        )
        print(
            f"{name:<34}{r['messages']:>10}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}"
            f"{r['server_cpu_s']:>10.1f}   {flooder}"
        )
    base, limited = results[0][1], results[1][1]
    print(f"p99 with flood / without (rate limit on): {limited['p99_ms'] / base['p99_ms']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        asyncio.run(flood(args.flood, args.seconds))
    else:
        asyncio.run(run(args.stations, args.seconds))


if __name__ == "__main__":
    main()
