"""Instructions per stored MeterValues, counted with valgrind's callgrind: a load-proof figure.

Each server runs under `valgrind --tool=callgrind --instr-atstart=no` (every thread of the process
counted: the SQLite writer, its checkpointer and reader too; the kernel's work is not counted).
Ordinary client processes (`ocpp_throughput.py`'s stations, not under valgrind) connect N
stations, boot them, send a warm-up, answer the server's post-boot CALLs and wait until no station
has had a CALL for `--quiet` seconds; then instrumentation is switched on (`callgrind_control -i
on`), every station sends exactly `--messages` MeterValues (5 sampled values, one call in flight
each), and the counts are dumped (`callgrind_control -d`). Instructions per message = the dump's
total / the messages. The machine's load does not slow the count, so this tree, another tree
(`--before DIR`: a source tree with its own `.venv`, e.g. the commit the issue measured), the naive
reference and ocpp-rpc's Node server can be compared on a busy machine; it still moves by a few
per cent with how many messages the server finds ready per loop turn and per group commit (fsync
time, the clients' share of the CPU), so compare within one run and repeat (docs/performance.md).

    .venv/bin/python benchmarks/ocpp_instructions.py [--stations 200] [--messages 20]
        [--servers sqlite,postgres,before,naive,node] [--before DIR] [--no-deflate]
        [--keep DIR] [--issue-us 196]

The estimate on the issue's machine scales its measured server CPU per message for the commit it
measured (`--issue-us`, 196 µs at a86c283) by the ratio of instructions: `issue_us × (ours /
before)`, and prints the messages/s that cost would allow on one whole core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from ocpp_throughput import (
    BOOT,
    CSMS_URL,
    NAIVE,
    POSTGRES,
    REGISTER,
    answer,
    answer_call,
    connect,
    csms_args,
    install_node_server,
    meter_values_frame,
    postgres_reachable,
    spawn,
    stop,
)

START_TIMEOUT = 900  # a server's start under valgrind (imports run ~10x slower)


@dataclass
class Phases:
    """What every station does, in step: boot, warm up, settle, (count on) measure, done."""

    stations: int
    messages: int
    warmup: int
    quiet_s: float
    last_call: float = field(default_factory=time.monotonic)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    measure: asyncio.Event = field(default_factory=asyncio.Event)
    ready: int = 0
    calls_in_window: int = 0

    def call_seen(self) -> None:
        self.last_call = time.monotonic()


async def station(url: str, index: int, phases: Phases, deflate: bool) -> None:
    async with connect(url, index, deflate, ping=False) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification", BOOT]))
        if await answer(ws, "boot"):
            phases.call_seen()
        for sent in range(phases.warmup):
            await ws.send(meter_values_frame(sent, 1))
            if await answer(ws, str(sent)):
                phases.call_seen()
        phases.ready += 1
        while not phases.settled.is_set():  # answer the post-boot work until all is quiet
            try:
                async with asyncio.timeout(0.5):
                    message = json.loads(await ws.recv())
            except TimeoutError:
                continue
            if message[0] != 2:
                raise RuntimeError(f"unexpected frame {str(message)[:200]}")
            await answer_call(ws, message)
            phases.call_seen()
        await phases.measure.wait()
        for sent in range(phases.messages):
            await ws.send(meter_values_frame(sent, 1))
            phases.calls_in_window += await answer(ws, str(sent))


def callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=600)


def dumped_total(out_prefix: str) -> int:
    """The instruction total of the first dump (`callgrind_control -d` writes `<out>.1`)."""
    text = Path(f"{out_prefix}.1").read_text()
    match = re.search(r"^totals:\s+(\d+)", text, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no totals in {out_prefix}.1")
    return int(match.group(1))


async def count(url: str, pid: int, out_prefix: str, args: argparse.Namespace) -> Counted:
    phases = Phases(args.stations, args.messages, args.warmup, args.quiet)
    tasks = [
        asyncio.create_task(station(url, i, phases, not args.no_deflate))
        for i in range(args.stations)
    ]
    try:
        while phases.ready < args.stations or time.monotonic() - phases.last_call < args.quiet:
            if failed := [t for t in tasks if t.done()]:
                raise RuntimeError(f"a station ended before the window: {failed[0].exception()!r}")
            await asyncio.sleep(0.2)
        phases.settled.set()
        await asyncio.sleep(1)  # every station back from its last 0.5 s wait
        await asyncio.to_thread(callgrind_control, "-i", "on", str(pid))
        phases.measure.set()
        await asyncio.gather(*tasks)
        await asyncio.to_thread(callgrind_control, "-d", str(pid))
    finally:
        for task in tasks:
            task.cancel()
    messages = args.stations * args.messages
    return Counted(messages, dumped_total(out_prefix), phases.calls_in_window)


@dataclass
class Counted:
    messages: int
    instructions: int
    server_calls: int  # the server's own CALLs during the window (the post-boot work: 0)

    @property
    def per_message(self) -> float:
        return self.instructions / self.messages


def under_valgrind(out_prefix: str, command: list[str]) -> list[str]:
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
        f"--callgrind-out-file={out_prefix}", *command,
    ]  # fmt: skip


Runner = Callable[[argparse.Namespace, str], Awaitable[Counted]]


async def counted_server(
    command: list[str], pattern: str, args: argparse.Namespace, out: str, *,
    cwd: str | None = None, env: dict[str, str] | None = None,
    prepare: Callable[[str], Awaitable[None]] | None = None,
) -> Counted:  # fmt: skip
    proc, found = await spawn(
        under_valgrind(out, command), pattern, None, cwd, env, start_s=START_TIMEOUT
    )
    try:
        if prepare is not None:
            await prepare(found)
        url = found if found.startswith("ws") else f"ws://127.0.0.1:{found}"
        return await count(url, proc.pid, out, args)
    finally:
        await stop(proc)


def known(stations: int) -> list[tuple[str, float]]:
    return [(f"BENCH-{i:04d}", time.time()) for i in range(stations)]


async def run_sqlite(
    args: argparse.Namespace, out: str, python: str = sys.executable, cwd: str | None = None
) -> Counted:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"

        async def register(_: str) -> None:
            with sqlite3.connect(db, timeout=60) as conn:
                sql = REGISTER.replace("$1", "?").replace("$2", "?")
                conn.executemany(sql, known(args.stations))

        command = [python, *csms_args(f"sqlite:///{db}")[1:]]
        return await counted_server(command, CSMS_URL, args, out, cwd=cwd, prepare=register)


async def run_postgres(args: argparse.Namespace, out: str) -> Counted:
    import asyncpg  # type: ignore[import-untyped]

    schema = f"bench_{uuid.uuid4().hex[:8]}"

    async def register(_: str) -> None:
        conn = await asyncpg.connect(POSTGRES, server_settings={"search_path": schema})
        try:
            await conn.executemany(REGISTER, known(args.stations))
        finally:
            await conn.close()

    command = csms_args(f"{POSTGRES}?schema={schema}")
    try:
        return await counted_server(command, CSMS_URL, args, out, prepare=register)
    finally:
        conn = await asyncpg.connect(POSTGRES)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()


async def run_before(args: argparse.Namespace, out: str) -> Counted:
    python = str(Path(args.before, ".venv", "bin", "python"))
    return await run_sqlite(args, out, python, cwd=args.before)  # its tree, not this one


async def run_naive(args: argparse.Namespace, out: str) -> Counted:
    return await counted_server(NAIVE, r"(\d+)", args, out)


async def run_node(args: argparse.Namespace, out: str) -> Counted:
    return await counted_server(["node", "server.js"], r"(\d+)", args, out, cwd=args.node_dir)


SERVERS: dict[str, tuple[str, Runner]] = {
    "sqlite": ("csms, validated + durable SQLite", run_sqlite),
    "postgres": ("csms, validated + PostgreSQL (csms only)", run_postgres),
    "before": ("csms before (--before), durable SQLite", run_before),
    "naive": ("naive ocpp-library reference", run_naive),
    "node": ("ocpp-rpc Node (strict, no storage)", run_node),
}


async def main(args: argparse.Namespace) -> None:
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    skipped: list[str] = []
    if "before" in wanted and not args.before:
        wanted.remove("before")
        skipped.append("before: no --before DIR given")
    if "postgres" in wanted and not postgres_reachable():
        wanted.remove("postgres")
        skipped.append("PostgreSQL: nothing listens on 127.0.0.1:5432")
    keep = args.keep or tempfile.mkdtemp(prefix="ocpp-instructions-")
    os.makedirs(keep, exist_ok=True)
    results: dict[str, Counted] = {}
    with tempfile.TemporaryDirectory() as node_dir:
        args.node_dir = node_dir
        if "node" in wanted and (why := install_node_server(node_dir)) is not None:
            wanted.remove("node")
            skipped.append(f"ocpp-rpc Node server skipped: {why}")
        for name in wanted:
            began = time.monotonic()
            try:
                results[name] = await SERVERS[name][1](args, str(Path(keep, f"callgrind.{name}")))
            except (RuntimeError, OSError, TimeoutError, websockets.WebSocketException) as exc:
                skipped.append(f"{name}: failed under valgrind: {exc!r}"[:300])
            print(f"  ({name}: {time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)
    report(args, results, skipped, keep)


def report(
    args: argparse.Namespace, results: dict[str, Counted], skipped: list[str], keep: str
) -> None:
    clients = "without deflate" if args.no_deflate else "offer permessage-deflate"
    print(
        f"{args.stations} stations × {args.messages} MeterValues (5 sampled values) counted "
        f"after a warm-up, clients {clients}"
    )
    for line in skipped:
        print("  " + line)
    base = results.get("sqlite")
    print(f"{'server':<45}{'messages':>9}{'instr/msg':>12}{'vs ours':>9}  server CALLs in window")
    for name, c in results.items():
        ratio = f"{c.per_message / base.per_message:.2f}x" if base else "-"
        print(
            f"{SERVERS[name][0]:<45}{c.messages:>9}{c.per_message:>12,.0f}{ratio:>9}"
            f"  {c.server_calls}"
        )
    before = results.get("before")
    if base and before:
        us = args.issue_us * base.per_message / before.per_message
        print(
            f"estimate on the issue's machine: {args.issue_us:g} µs × "
            f"{base.per_message:,.0f} / {before.per_message:,.0f} = {us:.0f} µs per message "
            f"→ {1e6 / us:,.0f} msg/s on one core (goal 6,500; meaningful only when --before "
            "is the commit the issue measured, a86c283)"
        )
    print(f"callgrind dumps in {keep} (callgrind_annotate FILE.1 for where they go)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20, help="counted per station")
    parser.add_argument("--warmup", type=int, default=5, help="messages per station before")
    parser.add_argument("--quiet", type=float, default=20, help="seconds without server CALLs")
    parser.add_argument("--servers", default="sqlite,postgres,before,naive,node")
    parser.add_argument("--before", help="a csms source tree with its own .venv (e.g. a86c283)")
    parser.add_argument("--no-deflate", action="store_true", help="clients offer no deflate")
    parser.add_argument("--keep", help="folder for the callgrind dumps (default: a temp folder)")
    parser.add_argument("--issue-us", type=float, default=196, help="CPU µs/msg the issue saw")
    asyncio.run(main(parser.parse_args()))
