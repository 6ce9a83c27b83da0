"""Reconnect storm: N double-socket stations reconnecting within 10 s after a server restart.

Starts `csms serve` (durable SQLite in a temp folder, the stations registered, one site with an
in-process simulated meter polled every second, so a control loop runs throughout), connects N
light stations (`light_station.py`; each boots, reports connectors 0-2 and answers the post-boot
GetConfiguration), restarts the server (SIGTERM, start again on the same ports) and lets every
station reconnect at a random moment within `--spread-s` (retrying every second while refused).
Each station's first snapshot is stored before the restart, as on a server that ran a while.
Then measures from the restart: when all are booted, when every connector status is stored, when
every station's configuration snapshot is stored, stations the server disconnected, heartbeat
latency during the storm, and the control loop's meter readings (one a second when steady).

    .venv/bin/python benchmarks/reconnect_storm.py [--stations 10000] [--spread-s 10]
        [--deadline-s 60] [--pin] [--profile FILE]
        [--reference GITREF]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from light_station import (
    BOOT,
    LightStation,
    connect,
    cpu_seconds,
    percentile,
    raise_open_files_limit,
    rss_mb,
)

from csms.sim.meter import MeterSimulator

SITE = "storm"
PER_SOURCE = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Storm:
    ocpp_port: int
    api_port: int
    sources: list[str]
    heartbeat_s: float
    booted_at: dict[str, float] = field(default_factory=dict)
    beats: list[float] = field(default_factory=list)
    stations: dict[str, LightStation] = field(default_factory=dict)
    refused: int = 0  # handshakes refused or failed, retried


def write_config(
    folder: Path, ids: list[str], ocpp_port: int, api_port: int, meter_port: int
) -> Path:
    site_stations = "".join(f'[[sites.stations]]\nid = "{i}"\n' for i in ids[:20])
    config = folder / "csms.toml"
    config.write_text(
        f'database_url = "sqlite:///{folder}/storm.sqlite3"\n'
        f'ocpp_host = "127.0.0.1"\nocpp_port = {ocpp_port}\n'
        f'api_host = "127.0.0.1"\napi_port = {api_port}\n'
        'unknown_stations = "reject"\nlog_level = "WARNING"\n'
        f'[[sites]]\nid = "{SITE}"\ngrid_limit_a = 400\n'
        '[sites.meter]\ntype = "simulated"\npoll_interval_s = 1\n'
        f"port = {meter_port}\n" + site_stations
    )
    return config


async def spawn_server(
    config: Path, cpus: set[int] | None, profile: str | None = None, code: Path | None = None
) -> asyncio.subprocess.Process:
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, *(["-m", "cProfile", "-o", profile] if profile else []),
        "-m", "csms.cli", "serve", "--config", str(config),
        preexec_fn=pin,
        # `-m` puts the working directory first on sys.path: run another tree's code from it.
        cwd=code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **({"PYTHONPATH": str(code)} if code else {})},
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
    if not re.search(r"ws://", line):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc


async def stop_server(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def register(db: Path, ids: list[str]) -> None:
    with sqlite3.connect(db, timeout=60) as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO stations (id, status, first_seen) VALUES (?, 'accepted', ?)",
            [(i, time.time()) for i in ids],
        )


async def station_life(storm: Storm, index: int, station_id: str, delay_s: float) -> None:
    """Connect after `delay_s` (again every second while refused), boot, report, heartbeat."""
    await asyncio.sleep(delay_s)
    while True:
        try:
            station = await connect(
                "127.0.0.1", storm.ocpp_port, station_id, storm.sources[index % len(storm.sources)]
            )
            break
        except (OSError, ConnectionError, TimeoutError):
            storm.refused += 1
            await asyncio.sleep(1 + random.random())
    storm.stations[station_id] = station
    try:
        await station.call("BootNotification", BOOT)
        storm.booted_at[station_id] = time.perf_counter()
        for connector in (0, 1, 2):
            await station.call(
                "StatusNotification",
                {"connectorId": connector, "errorCode": "NoError", "status": "Available"},
            )
        # Sleeps end when the server goes away, so a restart does not wait out a heartbeat.
        await asyncio.wait([station.lost], timeout=random.uniform(0, storm.heartbeat_s))
        while not station.lost.done():
            storm.beats.append(await station.timed_call("Heartbeat", {}))
            await asyncio.wait([station.lost], timeout=storm.heartbeat_s)
    except (ConnectionError, TimeoutError, RuntimeError):
        return


async def finish(lives: list[asyncio.Task[None]]) -> None:
    """Let the stations notice the server is gone; cancel what still waits after a minute."""
    _, waiting = await asyncio.wait(lives, timeout=60)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*lives, return_exceptions=True)


def readings(api_port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    match = re.search(rf'csms_meter_readings_total{{site="{SITE}"}} (\S+)', text)
    return float(match.group(1)) if match else None


def db_progress(db: Path, since: float) -> tuple[int, int]:
    """(connector statuses stored since `since`, stations with a snapshot taken since)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        statuses = conn.execute(
            "SELECT count(*) FROM connectors WHERE updated_at >= ?", (since,)
        ).fetchone()[0]
        snapshots = conn.execute(
            "SELECT count(DISTINCT station_id) FROM config_snapshots "
            "WHERE coalesce(checked_at, taken_at) >= ?",
            (since,),
        ).fetchone()[0]
    return int(statuses), int(snapshots)


async def main(args: argparse.Namespace) -> None:
    if not args.reference:
        await storm_run(args, None, "this tree")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # The reference's csms package first on the server's path; stations and meter unchanged.
        await asyncio.to_thread(extract, args.reference, Path(tmp))
        await storm_run(args, Path(tmp), f"reference {args.reference}")
    await storm_run(args, None, "this tree")


def extract(ref: str, folder: Path) -> None:
    """The `csms` package of git `ref` into `folder`."""
    archive = subprocess.run(
        ["git", "archive", ref, "csms"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)


async def storm_run(args: argparse.Namespace, code: Path | None, label: str) -> None:
    n = args.stations
    limit = raise_open_files_limit(2 * n + 4096)
    if limit < n + 1024:
        print(
            f"open-files limit {limit} is too low for {n} stations; use --stations ≤ {limit - 1024}"
        )
        return
    everything = os.sched_getaffinity(0)
    cpus: set[int] | None = None
    if args.pin and len(everything) > 1:
        cpus = {min(everything)}
        os.sched_setaffinity(0, everything - cpus)
    ids = [f"STORM-{i:05d}" for i in range(n)]
    storm = Storm(
        free_port(),
        free_port(),
        [f"127.0.0.{1 + i}" for i in range(max(2, -(-n // PER_SOURCE)))],
        args.heartbeat_s,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        meter = MeterSimulator()  # the site's grid meter (Modbus TCP), outside the server
        meter_port = await meter.start()
        config = write_config(folder, ids, storm.ocpp_port, storm.api_port, meter_port)
        db = folder / "storm.sqlite3"
        proc = await spawn_server(config, cpus, code=code)
        register(db, ids)
        # First start: everyone connects (within the same spread) and gets its snapshot.
        t0 = time.perf_counter()
        lives = [
            asyncio.create_task(station_life(storm, i, sid, random.uniform(0, args.spread_s)))
            for i, sid in enumerate(ids)
        ]
        while len(storm.booted_at) < n and time.perf_counter() - t0 < 600:  # noqa: ASYNC110
            await asyncio.sleep(1)
        first_s = time.perf_counter() - t0
        # A restart finds every station with a stored snapshot (they ran for a while before).
        snapshotted = 0
        while time.perf_counter() - t0 < 900:
            snapshotted = (await asyncio.to_thread(db_progress, db, 0.0))[1]
            if snapshotted >= n:
                break
            await asyncio.sleep(1)
        print(
            f"[{label}] first start: {len(storm.booted_at)} of {n} stations booted "
            f"in {first_s:.1f} s, {snapshotted} with a snapshot in {time.perf_counter() - t0:.1f} s"
        )

        # The restart.
        await stop_server(proc)
        await finish(lives)
        storm.booted_at.clear()
        storm.beats.clear()
        storm.stations.clear()
        storm.refused = 0
        proc = await spawn_server(config, cpus, None if code else args.profile, code)
        restart_wall = time.time()
        t0 = time.perf_counter()
        cpu0 = cpu_seconds(proc.pid)
        lives = [
            asyncio.create_task(station_life(storm, i, sid, random.uniform(0, args.spread_s)))
            for i, sid in enumerate(ids)
        ]
        samples: list[tuple[float, float]] = []  # (s since restart, readings)
        all_booted = statuses_s = snapshots_s = None
        statuses = snapshots = 0
        while time.perf_counter() - t0 < args.deadline_s + 30:
            now = time.perf_counter() - t0
            value = await asyncio.to_thread(readings, storm.api_port)
            if value is not None:
                samples.append((now, value))
            if all_booted is None and len(storm.booted_at) == n:
                all_booted = max(storm.booted_at.values()) - t0
            statuses, snapshots = await asyncio.to_thread(db_progress, db, restart_wall)
            if statuses_s is None and statuses >= 3 * n:
                statuses_s = now
            if snapshots_s is None and snapshots >= n:
                snapshots_s = now
            done = all_booted is not None and statuses_s is not None and snapshots_s is not None
            if done and now > args.spread_s + 10:
                break
            await asyncio.sleep(1)
        storm_s = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        rss = rss_mb(proc.pid)
        dropped = sum(1 for s in storm.stations.values() if s.closed_by_server)
        reads = [s.answered_calls.get("GetConfiguration", 0) for s in storm.stations.values()]
        await stop_server(proc)
        await finish(lives)
        await meter.stop()

    def when(value: float | None) -> str:
        return f"{value:6.1f} s" if value is not None else "not within the run"

    gaps = [b[0] - a[0] for a, b in itertools.pairwise(samples) if b[1] > a[1]]
    readings_taken = samples[-1][1] - samples[0][1] if len(samples) > 1 else 0
    span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 0
    longest = 0.0
    last_change = samples[0][0] if samples else 0.0
    for (_, before), (at, value) in itertools.pairwise(samples):
        if value > before:
            longest = max(longest, at - last_change)
            last_change = at
    print(
        f"[{label}] {n} double stations reconnecting within {args.spread_s:g} s of a restart; "
        f"server {'pinned to CPU ' + str(min(cpus)) if cpus else 'unpinned'}"
    )
    print(f"  all booted:                         {when(all_booted)}")
    print(f"  all connector statuses stored:      {when(statuses_s)}  ({statuses}/{3 * n})")
    print(f"  all configuration snapshots stored: {when(snapshots_s)}  ({snapshots}/{n})")
    print(
        f"  GetConfiguration calls per station: {sum(reads) / max(1, len(reads)):.2f} "
        f"(most {max(reads, default=0)})"
    )
    print(f"  handshakes refused/failed, retried: {storm.refused}")
    print(f"  stations disconnected by the server: {dropped}")
    print(
        f"  heartbeats during the storm: n={len(storm.beats)}  "
        f"p50 {percentile(storm.beats, 0.5) * 1000:.1f} ms  "
        f"p99 {percentile(storm.beats, 0.99) * 1000:.1f} ms"
    )
    print(
        f"  control loop: {readings_taken:.0f} meter readings in {span:.0f} s "
        f"(1/s when steady), longest stretch without one {longest:.1f} s "
        f"(API samples {len(samples)}, {len(gaps)} with a new reading)"
    )
    print(f"  server CPU {cpu:.1f} s over {storm_s:.0f} s; RSS {rss:.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--spread-s", type=float, default=10.0)
    parser.add_argument("--deadline-s", type=float, default=60.0)
    parser.add_argument("--heartbeat-s", type=float, default=60.0)
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, stations elsewhere")
    parser.add_argument(
        "--reference",
        metavar="GITREF",
        help="first run the storm against the server code of GITREF (e.g. main), then this tree",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="run the restarted server under cProfile, stats to FILE"
    )
    asyncio.run(main(parser.parse_args()))
