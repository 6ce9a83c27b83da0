"""OCPP throughput: N stations sending MeterValues (5 sampled values), one call in flight each.

Runs the same load, in one run, against:

- `csms serve` with durable SQLite (validation on, every message acknowledged after its commit),
- `csms serve` with PostgreSQL (skipped with a message when 127.0.0.1:5432 does not answer),
- the naive reference (`reference_server.py`: the `ocpp` library's example style, no storage),
- an ocpp-rpc Node server (strict validation, no storage), installed from the npm registry into a
  temporary folder (skipped with a message when `npm`/`node` are missing or the install fails),

each in its own process, once pinned (server on CPU 0, load generator on the others: one-core
figures) and once unpinned, and prints messages/s, p50/p99 latency, the server's CPU time per
message and the ratio to our SQLite figure.

    .venv/bin/python benchmarks/ocpp_throughput.py [--stations 200] [--seconds 10]
        [--modes pinned,unpinned] [--servers sqlite,postgres,naive,node] [--no-deflate]
        [--before DIR]

`--before DIR` runs, beside each of our servers, the same server from another source tree (the
branch point, unpacked with `git archive`), for before/after figures in one run.

The clients offer permessage-deflate by default, as ocpp-rpc's clients do (`--no-deflate` not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

HERE = Path(__file__).resolve().parent
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CLK_TCK = os.sysconf("SC_CLK_TCK")

NODE_SERVER = """
const { RPCServer } = require('ocpp-rpc');
(async () => {
  const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true });
  server.on('client', (client) => {
    const now = () => new Date().toISOString();
    client.handle('BootNotification', () =>
      ({ status: 'Accepted', interval: 60, currentTime: now() }));
    client.handle('Heartbeat', () => ({ currentTime: now() }));
    client.handle('StatusNotification', () => ({}));
    client.handle('MeterValues', () => ({}));
  });
  const http = await server.listen(0, '127.0.0.1');
  console.log(String(http.address().port));
})();
"""


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


@dataclass
class Result:
    messages: int
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU time per message
    stored: str = ""


@dataclass
class Window:
    """The measured window: opens once every station is connected and booted."""

    stations: int
    seconds: float
    ready: int = 0
    opened: asyncio.Event | None = None
    stop_at: float = 0.0

    async def wait_open(self) -> float:
        assert self.opened is not None
        self.ready += 1
        if self.ready == self.stations:
            self.stop_at = time.perf_counter() + self.seconds
            self.opened.set()
        await self.opened.wait()
        return self.stop_at


async def station(
    url: str, index: int, window: Window, deflate: bool, latencies: list[float]
) -> int:
    async with connect(url, index, deflate) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification", BOOT]))
        await answer(ws, "boot")
        stop_at = await window.wait_open()
        sent = 0
        while time.perf_counter() < stop_at:
            frame = meter_values_frame(sent, 1)
            began = time.perf_counter()
            await ws.send(frame)
            await answer(ws, str(sent))
            latencies.append(time.perf_counter() - began)
            sent += 1
        return sent


BOOT = {"chargePointVendor": "Alfen BV", "chargePointModel": "NG910-60023"}


def connect(url: str, index: int, deflate: bool, ping: bool = True) -> websockets.connect:
    """Station `index`'s connection (`ping=False`: no keepalive, for a server under valgrind)."""
    return websockets.connect(
        f"{url}/BENCH-{index:04d}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression="deflate" if deflate else None,
        open_timeout=600 if not ping else 60,
        ping_interval=20 if ping else None,
    )


async def answer(ws: websockets.ClientConnection, unique_id: str) -> int:
    """Read until the answer to `unique_id`; answer the server's own CALLs on the way (the
    post-boot GetConfiguration) as a station with no keys would. Returns how many it answered."""
    calls = 0
    while True:
        message = json.loads(await ws.recv())
        if message[0] == 3 and message[1] == unique_id:
            return calls
        if message[0] == 2:
            await answer_call(ws, message)
            calls += 1
            continue
        raise RuntimeError(f"unexpected frame {str(message)[:200]}")


async def answer_call(ws: websockets.ClientConnection, message: list[Any]) -> None:
    payload: dict[str, Any] = {"configurationKey": []} if message[2] == "GetConfiguration" else {}
    await ws.send(json.dumps([3, message[1], payload]))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


async def load(url: str, pid: int, stations: int, seconds: float, deflate: bool) -> Result:
    latencies: list[float] = []
    window = Window(stations, seconds, opened=asyncio.Event())
    tasks = [
        asyncio.create_task(station(url, i, window, deflate, latencies)) for i in range(stations)
    ]
    assert window.opened is not None
    opened = asyncio.create_task(window.opened.wait())
    await asyncio.wait([opened, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done() and task.exception() is not None:
            opened.cancel()
            for other in tasks:
                other.cancel()
            raise RuntimeError(f"a station failed before the window opened: {task.exception()!r}")
    cpu0 = cpu_seconds(pid)
    began = time.perf_counter()
    counts = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds(pid) - cpu0
    latencies.sort()
    total = sum(counts)
    return Result(
        messages=total,
        per_s=total / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
        cpu_us=cpu / max(total, 1) * 1e6,
    )


async def spawn(
    args: list[str],
    pattern: str,
    cpus: set[int] | None,
    cwd: str | None = None,
    extra_env: dict[str, str] | None = None,
    start_s: float = 120,
) -> tuple[asyncio.subprocess.Process, str]:
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    proc = await asyncio.create_subprocess_exec(
        *args,
        preexec_fn=pin,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})},
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), start_s)).decode()
    match = re.search(pattern, line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, match.group(1)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def csms_args(database_url: str) -> list[str]:
    return [
        sys.executable, "-m", "csms.cli", "serve",
        "--database-url", database_url,
        "--ocpp-host", "127.0.0.1", "--ocpp-port", "0", "--api-port", "0",
        "--unknown-stations", "accept",
    ]  # fmt: skip


CSMS_URL = r"(ws://\S+)/\{stationId\}"
# Known stations, as after their first connection: the load measures messages, not registration.
# Sampled values stored: a row per meterValue element since migration 0520, a row per sampled
# value before it (a --before tree).
SAMPLES_STORED = "SELECT sum(json_array_length(samples)) FROM meter_values"
ROWS_STORED = "SELECT count(*) FROM meter_values"
REGISTER = "INSERT INTO stations (id, status, first_seen) VALUES ($1, 'accepted', $2)"


def known(run: Run) -> list[tuple[str, float]]:
    return [(f"BENCH-{i:04d}", time.time()) for i in range(run.stations)]


@dataclass
class Run:
    stations: int
    seconds: float
    deflate: bool
    source: str | None = None  # another csms source tree to run instead (--before)
    guard: bool = False  # keep the per-station flood guard at its defaults (--flood-guard)

    def env(self) -> dict[str, str]:
        env = {} if self.guard else dict(NO_GUARD)
        if self.source:
            # Run in that tree too (`spawn`'s cwd): `python -m` puts the working directory
            # first on sys.path, ahead of PYTHONPATH.
            env["PYTHONPATH"] = self.source
        return env

    def before(self) -> Run:
        return Run(self.stations, self.seconds, self.deflate, BEFORE_DIR, self.guard)


# The flood guard reads a station's frames past a burst of 200 at 20/s (docs/connections.md):
# each of these stations sends ~40/s, so with it the run measures the guard's pacing (a cap
# of 200 × (200 + 20 × seconds) / seconds: 8,000/s in 10 s, and a 50 ms wait per paced frame
# in p99), not the server. Lifted here unless --flood-guard.
NO_GUARD = {"CSMS_MESSAGE_RATE_PER_S": "1000000", "CSMS_MESSAGE_BURST": "1000000"}


BEFORE_DIR: str | None = None


async def run_sqlite(cpus: set[int] | None, run: Run) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        proc, url = await spawn(csms_args(f"sqlite:///{db}"), CSMS_URL, cpus, run.source, run.env())
        with sqlite3.connect(db, timeout=60) as conn:
            conn.executemany(REGISTER.replace("$1", "?").replace("$2", "?"), known(run))
        try:
            result = await load(url, proc.pid, run.stations, run.seconds, run.deflate)
        finally:
            await stop(proc)
        with sqlite3.connect(db) as conn:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(meter_values)")}
            query = SAMPLES_STORED if "samples" in columns else ROWS_STORED
            stored = conn.execute(query).fetchone()[0]
    result.stored = f"{stored}/{result.messages * 5}"
    return result


async def run_postgres(cpus: set[int] | None, run: Run) -> Result:
    import asyncpg  # type: ignore[import-untyped]

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    args = csms_args(f"{POSTGRES}?schema={schema}")
    proc, url = await spawn(args, CSMS_URL, cpus, run.source, run.env())
    conn = await asyncpg.connect(POSTGRES, server_settings={"search_path": schema})
    try:
        await conn.executemany(REGISTER, known(run))
    finally:
        await conn.close()
    try:
        result = await load(url, proc.pid, run.stations, run.seconds, run.deflate)
    finally:
        await stop(proc)
    conn = await asyncpg.connect(POSTGRES)
    try:
        compact = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 "
            "AND table_name = 'meter_values' AND column_name = 'samples'",
            schema,
        )
        counted = "sum(json_array_length(samples::json))" if compact else "count(*)"
        stored = await conn.fetchval(f"SELECT {counted} FROM {schema}.meter_values")
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()
    result.stored = f"{stored}/{result.messages * 5}"
    return result


async def run_plain(args: list[str], cwd: str | None, cpus: set[int] | None, run: Run) -> Result:
    """A server without storage that prints its port first (the naive reference, Node)."""
    proc, port = await spawn(args, r"(\d+)", cpus, cwd=cwd)
    try:
        return await load(
            f"ws://127.0.0.1:{port}", proc.pid, run.stations, run.seconds, run.deflate
        )
    finally:
        proc.kill()
        await proc.wait()


NAIVE = [sys.executable, str(HERE / "reference_server.py")]
NODE_DIR: str | None = None


def install_node_server(folder: str) -> str | None:
    """Install ocpp-rpc from the npm registry into `folder`; None when it worked, else why not."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return "npm/node not found"
    Path(folder, "server.js").write_text(NODE_SERVER)
    Path(folder, "package.json").write_text('{"name": "bench", "private": true}')
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "ocpp-rpc"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        return f"npm install ocpp-rpc failed: {done.stderr.strip()[:200]}"
    return None


def postgres_reachable() -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=2):
        return True
    return False


SERVERS: dict[str, tuple[str, Callable[[set[int] | None, Run], object]]] = {
    "sqlite": ("csms, validated + durable SQLite", run_sqlite),
    "postgres": ("csms, validated + PostgreSQL", run_postgres),
    "sqlite-before": ("csms before, durable SQLite", lambda c, r: run_sqlite(c, r.before())),
    "postgres-before": ("csms before, PostgreSQL", lambda c, r: run_postgres(c, r.before())),
    "naive": ("naive ocpp-library reference", lambda c, r: run_plain(NAIVE, None, c, r)),
    "node": (
        "ocpp-rpc Node (strict, no storage)",
        lambda c, r: run_plain(["node", "server.js"], NODE_DIR, c, r),
    ),
}


async def main(args: argparse.Namespace) -> None:
    global NODE_DIR, BEFORE_DIR
    BEFORE_DIR = args.before
    run = Run(args.stations, args.seconds, not args.no_deflate, guard=args.flood_guard)
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    if args.before:  # each of ours beside the same server built from the other tree
        wanted = [w for name in wanted for w in (name, f"{name}-before") if w in SERVERS]
    skipped: list[str] = []
    if "postgres" in wanted and not postgres_reachable():
        wanted = [name for name in wanted if not name.startswith("postgres")]
        skipped.append("PostgreSQL: nothing listens on 127.0.0.1:5432")
    with tempfile.TemporaryDirectory() as node_dir:
        if "node" in wanted:
            why = install_node_server(node_dir)
            if why is None:
                NODE_DIR = node_dir
            else:
                wanted.remove("node")
                skipped.append(f"ocpp-rpc Node server skipped: {why}")
        everything = os.sched_getaffinity(0)
        results: dict[str, dict[str, Result]] = {}
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            server_cpus: set[int] | None = None
            load_cpus = everything
            if mode == "pinned":
                if len(everything) < 2:
                    skipped.append("pinned: needs 2 CPUs")
                    continue
                server_cpus = {min(everything)}
                load_cpus = everything - server_cpus
            os.sched_setaffinity(0, load_cpus)
            for name in wanted:
                runner = SERVERS[name][1]
                results.setdefault(mode, {})[name] = await runner(server_cpus, run)  # type: ignore[misc]
            os.sched_setaffinity(0, everything)

    print(
        f"{run.stations} stations, one call in flight each, {run.seconds:g} s per run, "
        f"csms's flood guard {'at its defaults' if run.guard else 'lifted'}, "
        f"MeterValues with 5 sampled values, clients "
        f"{'offer permessage-deflate' if run.deflate else 'without deflate'}"
    )
    for line in skipped:
        print("  " + line)
    head = f"{'mode':<9}{'server':<37}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU µs/msg':>11}"
    print(head + f"{'vs SQLite':>10}  stored/sent")
    for mode, by_server in results.items():
        base = by_server.get("sqlite")
        for name, r in by_server.items():
            ratio = f"{r.per_s / base.per_s:.2f}x" if base else "-"
            print(
                f"{mode:<9}{SERVERS[name][0]:<37}{r.per_s:>8.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}"
                f"{r.cpu_us:>11.0f}{ratio:>10}  {r.stored}"
            )
    for mode, by_server in results.items():
        ours = by_server.get("sqlite")
        if ours is None:
            continue
        for name in ("naive", "node"):
            if name in by_server:
                print(f"{mode}: csms SQLite / {name}: {ours.per_s / by_server[name].per_s:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--modes", default="pinned,unpinned", help="pinned and/or unpinned")
    parser.add_argument("--servers", default="sqlite,postgres,naive,node")
    parser.add_argument("--no-deflate", action="store_true", help="clients offer no deflate")
    parser.add_argument(
        "--flood-guard",
        action="store_true",
        help="keep csms's per-station flood guard (20 frames/s after 200) at its defaults",
    )
    parser.add_argument(
        "--before",
        help="a csms source tree (e.g. `git archive main | tar -x -C DIR`) to run beside ours",
    )
    asyncio.run(main(parser.parse_args()))
