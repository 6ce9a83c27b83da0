"""SQLite WAL checkpoints on the writer's commit (SQLite's default) or off it (csms's checkpointer).

N concurrent writers (200), each storing a MeterValues' five rows and waiting for the commit
before the next (as a station waits for its answer), for `--seconds` each way, alternating the two
ways `--rounds` times in one run. Prints writes/s, the write latency p50/p99/max (what a station
waits for its answer), the writer thread's CPU per write, the WAL's largest size and the
checkpoints run.

    .venv/bin/python benchmarks/sqlite_checkpoints.py [--writers 200] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from csms.storage import Stmt
from csms.storage.sqlite import SqliteDatabase

INSERT = (
    "INSERT INTO meter_values (station_id, connector_id, transaction_id, sampled_at, samples, "
    "energy_wh, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


class OnCommit(SqliteDatabase):
    """SQLite's default: the writer checkpoints inside a commit every 1,000 WAL pages."""

    async def _connect(self) -> None:
        await super()._connect()
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            self._checkpointer = None
        assert self._conn is not None
        await self._call(self._conn.execute, "PRAGMA wal_autocheckpoint=1000")


async def one_way(cls: type[SqliteDatabase], path: Path, writers: int, seconds: float) -> str:
    db = cls(f"sqlite:///{path}")
    await db.open()
    latencies: list[float] = []
    wal_max = 0
    stop = time.perf_counter() + seconds

    async def writer(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            samples = json.dumps([
                {"value": str(n), "measurand": "Power.Active.Import", "phase": f"L{k}", "unit": "W"}
                for k in range(5)
            ])  # fmt: skip
            rows = [(f"S{i}", 1, n, "2026-11-21T10:00:00Z", samples, None, time.time())]
            start = time.perf_counter()
            await db.write(Stmt(INSERT, rows, many=True))
            latencies.append(time.perf_counter() - start)
            n += 1

    async def watch_wal() -> None:
        nonlocal wal_max
        while time.perf_counter() < stop:
            with contextlib.suppress(OSError):
                wal_max = max(wal_max, Path(f"{path}-wal").stat().st_size)  # noqa: ASYNC240
            await asyncio.sleep(0.1)

    cpu0 = sum(os.times()[:2])  # the whole process: event loop, writer and checkpointer
    await asyncio.gather(watch_wal(), *(writer(i) for i in range(writers)))
    cpu = sum(os.times()[:2]) - cpu0
    checkpoints = db.checkpoints
    await db.close()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    return (
        f"{len(latencies) / seconds:>9.0f}{statistics.median(latencies) * 1000:>8.1f}"
        f"{p99 * 1000:>8.1f}{latencies[-1] * 1000:>8.1f}{cpu / len(latencies) * 1e6:>10.0f}"
        f"{wal_max / 1e6:>9.1f}{checkpoints:>7}"
    )


async def main(args: argparse.Namespace) -> None:
    print(
        f"{args.writers} writers, 5 rows a write, commit (fsync) before the answer, "
        f"{args.seconds:g} s each way"
    )
    print(
        f"{'checkpoints':<26}{'writes/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'CPU µs/w':>10}{'WAL MB':>9}{'runs':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            ways = (("on the writer's commit", OnCommit), ("off it (csms)", SqliteDatabase))
            for name, cls in ways:
                path = Path(tmp) / f"{cls.__name__}-{round_}.sqlite3"
                line = await one_way(cls, path, args.writers, args.seconds)
                print(f"{name:<26}{line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
