"""Idle scale: N stations connected to one `csms serve` process, heartbeating every 60 s.

Starts `csms serve` (durable SQLite in a temp folder; the stations are registered beforehand, as
known stations are), raises the open-files limit, and connects N light stations (see
`light_station.py`) from several 127.0.0.x source addresses (one address has ~28,000 ephemeral
ports), at most `--parallel` handshakes at a time. Each station boots, answers the post-boot
GetConfiguration, and sends a Heartbeat every `--heartbeat-s` from a random phase. Prints the
server's RSS (and per station), the time until all are connected and booted, and heartbeat
latency p50/p99 during the accept storm and over a steady window afterwards.

`--loops asyncio,uvloop` runs the server once per event loop (the `event_loop` setting);
`--before DIR` runs the same on another source tree first (e.g. main unpacked with
`git archive`), and a table puts every run's figures side by side at the end.

    .venv/bin/python benchmarks/scale.py [--stations 10000] [--steady-s 60] [--heartbeat-s 60]
        [--loops asyncio,uvloop] [--before DIR]
        [--pin]   # server on CPU 0, stations on the other CPUs
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from light_station import (
    BOOT,
    LightStation,
    connect,
    cpu_seconds,
    percentile,
    raise_open_files_limit,
    rss_mb,
)

PER_SOURCE = 20_000  # stations per 127.0.0.x source address


@dataclass
class Fleet:
    heartbeat_s: float
    beats: list[tuple[float, float]] = field(default_factory=list)  # (sent at, latency)
    stations: list[LightStation] = field(default_factory=list)
    failures: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # why connecting or booting failed


@dataclass(frozen=True)
class Server:
    label: str
    source: Path | None  # another source tree, or this one
    loop: str


async def spawn_server(
    db: Path, cpus: set[int] | None, server: Server
) -> tuple[asyncio.subprocess.Process, int]:
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csms.cli", "serve",
        "--database-url", f"sqlite:///{db}",
        "--ocpp-host", "127.0.0.1", "--ocpp-port", "0", "--api-port", "0",
        "--unknown-stations", "reject",
        preexec_fn=pin,
        # In that tree too: `python -m` puts the working directory before PYTHONPATH, so from
        # this repository's root the "before" server imported this tree's csms.
        cwd=server.source,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "CSMS_LOG_LEVEL": "WARNING",
            "CSMS_EVENT_LOOP": server.loop,
            **({"PYTHONPATH": str(server.source)} if server.source else {}),
        },
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
    match = re.search(r"ws://[^:]+:(\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(match.group(1))


def register(db: Path, ids: list[str]) -> None:
    """Known stations, as after their first connection (the server reads them per handshake)."""
    with sqlite3.connect(db, timeout=60) as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO stations (id, status, first_seen) VALUES (?, 'accepted', ?)",
            [(i, time.time()) for i in ids],
        )


async def heartbeats(station: LightStation, fleet: Fleet) -> None:
    await asyncio.sleep(random.uniform(0, fleet.heartbeat_s))
    while not station.lost.done():
        sent = time.perf_counter()
        try:
            fleet.beats.append((sent, await station.timed_call("Heartbeat", {})))
        except (ConnectionError, TimeoutError, RuntimeError):
            return
        await asyncio.sleep(fleet.heartbeat_s)


async def bring_up(
    port: int, station_id: str, source: str, fleet: Fleet, gate: asyncio.Semaphore
) -> asyncio.Task[None] | None:
    async with gate:
        try:
            station = await connect("127.0.0.1", port, station_id, source)
            await station.call("BootNotification", BOOT)
        except (OSError, ConnectionError, TimeoutError, RuntimeError) as exc:
            fleet.failures += 1
            reason = f"{type(exc).__name__}: {str(exc)[:60]}"
            fleet.reasons[reason] = fleet.reasons.get(reason, 0) + 1
            return None
    fleet.stations.append(station)
    return asyncio.create_task(heartbeats(station, fleet))


async def measure(
    args: argparse.Namespace, server: Server, server_cpus: set[int] | None
) -> dict[str, str]:
    """One server's run: connect the fleet, hold it for the steady window; its figures."""
    ids = [f"SCALE-{i:05d}" for i in range(args.stations)]
    sources = [f"127.0.0.{1 + i}" for i in range(max(2, -(-args.stations // PER_SOURCE)))]
    fleet = Fleet(args.heartbeat_s)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "scale.sqlite3"
        proc, port = await spawn_server(db, server_cpus, server)
        print(f"{server.label}: server pid {proc.pid} (for a profiler)", flush=True)
        try:
            register(db, ids)
            idle_rss = rss_mb(proc.pid)
            gate = asyncio.Semaphore(args.parallel)
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            tasks = await asyncio.gather(
                *(
                    bring_up(port, sid, sources[i % len(sources)], fleet, gate)
                    for i, sid in enumerate(ids)
                )
            )
            accepted_s = time.perf_counter() - t0
            accept_cpu = cpu_seconds(proc.pid) - cpu0
            accept_rss = rss_mb(proc.pid)
            steady_from = time.perf_counter()
            cpu1 = cpu_seconds(proc.pid)
            await asyncio.sleep(args.steady_s)
            steady_cpu = cpu_seconds(proc.pid) - cpu1
            steady_rss = rss_mb(proc.pid)
            dropped = sum(1 for s in fleet.stations if s.closed_by_server)
            for task in tasks:
                if task is not None:
                    task.cancel()
            for station in fleet.stations:
                station.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 120)
            except TimeoutError:
                proc.kill()
    during = [lat for at, lat in fleet.beats if at < steady_from]
    steady = [lat for at, lat in fleet.beats if at >= steady_from]
    connected = len(fleet.stations)
    print(f"{server.label}: {len(sources)} source addresses")
    print(f"  connected + booted:       {connected} ({fleet.failures} failed)")
    for reason, count in sorted(fleet.reasons.items(), key=lambda r: -r[1])[:3]:
        print(f"    failed: {count} × {reason}")
    print(f"  accept time:              {accepted_s:7.1f} s  (server CPU {accept_cpu:.1f} s)")
    print(
        f"  server RSS:               {idle_rss:7.0f} MB before, {accept_rss:.0f} MB after accept, "
        f"{steady_rss:.0f} MB after {args.steady_s:g} s"
    )
    per_station = (steady_rss - idle_rss) * 1024 / max(connected, 1)
    print(f"  per connected station:    {per_station:7.1f} KB")
    beats = {}
    for name, values in (("during accept", during), (f"steady {args.steady_s:g} s", steady)):
        p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
        beats[name] = f"{p50:,.0f} / {p99:,.0f} ms (n={len(values)})"
        print(f"  heartbeat {name:<15} n={len(values):<7} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    print(f"  steady server CPU:        {100 * steady_cpu / args.steady_s:7.1f} % of one core")
    print(f"  stations closed by the server: {dropped}", flush=True)
    return {
        "server": server.label,
        "connected": f"{connected:,} ({fleet.failures} failed)",
        "accept": f"{accepted_s:.1f} s",
        "CPU during accept": f"{accept_cpu:.1f} s",
        "RSS": f"{steady_rss:.0f} MB",
        "per station": f"{per_station:.1f} KB",
        "heartbeat during accept": beats["during accept"],
        "steady heartbeat": beats[f"steady {args.steady_s:g} s"],
        "steady CPU": f"{100 * steady_cpu / args.steady_s:.1f} %",
        "closed by server": str(dropped),
    }


async def main(args: argparse.Namespace) -> None:
    limit = raise_open_files_limit(2 * args.stations + 4096)
    if limit < args.stations + 1024:
        print(
            f"open-files limit {limit} is too low for {args.stations} stations in one process "
            f"(raising it needs CAP_SYS_RESOURCE or a higher hard limit): running the largest "
            f"count that fits, {limit - 1024}"
        )
        args.stations = limit - 1024
    everything = os.sched_getaffinity(0)
    server_cpus: set[int] | None = None
    if args.pin and len(everything) > 1:
        server_cpus = {min(everything)}
        os.sched_setaffinity(0, everything - server_cpus)
    servers = [
        Server(f"{name} {loop}", source, loop)
        for name, source in ([("before", Path(args.before))] if args.before else [])
        + [("after" if args.before else "this tree", None)]
        for loop in args.loops.split(",")
    ]
    print(
        f"{args.stations} idle stations, heartbeat every {args.heartbeat_s:g} s, "
        f"open-files limit {limit}, "
        f"server {'pinned to CPU ' + str(min(server_cpus)) if server_cpus else 'unpinned'}",
        flush=True,
    )
    rows = [await measure(args, server, server_cpus) for server in servers]
    print("\n| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--heartbeat-s", type=float, default=60.0)
    parser.add_argument("--steady-s", type=float, default=60.0)
    parser.add_argument("--parallel", type=int, default=500, help="handshakes at a time")
    parser.add_argument("--loops", default="asyncio", help="server event loops, comma-separated")
    parser.add_argument("--before", help="another csms source tree, measured first")
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, stations elsewhere")
    asyncio.run(main(parser.parse_args()))
