"""Python memory per connected station, and where it goes (tracemalloc), beside another tree.

Runs a central system in-process (SQLite in a temp folder), connects N light stations that boot
and answer the post-boot GetConfiguration, waits for that work to end, and prints the memory
traced since before the first connection divided by N (server and the light clients; a light
station is ~0.5 KB) with its largest sources. With `--before DIR` the same runs, in a separate
process, on another source tree (e.g. the branch point unpacked with `git archive`), first.
RSS (benchmarks/scale.py) adds the allocator's slack and the interpreter to these figures.

    .venv/bin/python benchmarks/session_memory.py [--stations 400] [--top 12] [--before DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def measure(stations: int, top: int) -> None:
    from light_station import BOOT, connect

    from csms.app import running_central_system
    from tests.support.databases import make_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(f"sqlite:///{tmp}/m.sqlite3")
        async with running_central_system(settings) as cs:
            port = int(cs.ocpp_url.rsplit(":", 1)[1].split("/")[0])
            warm = [await connect("127.0.0.1", port, f"WARM-{i}") for i in range(20)]
            for station in warm:
                await station.call("BootNotification", BOOT)
            await asyncio.sleep(4)  # their post-boot work, then measure from here
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            fleet = []
            for i in range(stations):
                station = await connect("127.0.0.1", port, f"MEM-{i:05d}")
                await station.call("BootNotification", BOOT)
                fleet.append(station)
            await asyncio.sleep(6)  # post-boot snapshots (2 s pause, then GetConfiguration)
            gc.collect()
            diff = tracemalloc.take_snapshot().compare_to(before, "filename")
    total = sum(d.size_diff for d in diff) / stations
    print(f"  {total / 1024:.1f} KB per station ({stations} stations), largest sources:")
    for d in diff[:top]:
        where = d.traceback[0].filename
        where = where.split("site-packages/")[-1].split("lib/python3")[-1]
        print(f"    {d.size_diff / stations:7.0f} B  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stations", type=int, default=400)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--before", help="another csms source tree, measured first")
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.before:
        subprocess.run(
            [sys.executable, __file__, "--stations", str(args.stations), "--top", str(args.top),
             "--source", args.before],
            check=True,
        )  # fmt: skip
    root = Path(args.source) if args.source else HERE.parent
    print(f"source tree {root}:", flush=True)
    sys.path[:0] = [str(root), str(root / "benchmarks")]
    asyncio.run(measure(args.stations, args.top))


if __name__ == "__main__":
    main()
