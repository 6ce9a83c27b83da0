"""Server-side render time of the console's pages for 100 stations with 400 sockets.

Starts an in-process central system (SQLite in a temp dir) with one site of N stations of 4
sockets each (their rows and connector statuses stored, the site model told their socket count),
then fetches the site view, the stations list and one station page over loopback HTTP and prints
the median and the slowest of the repeats. Target: < 200 ms per page.

    .venv/bin/python benchmarks/console_render.py [--stations 100] [--sockets 4] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from csms.app import running_central_system
from csms.settings import Settings
from csms.storage.stations import StatusRecord

TARGET_MS = 200.0


async def main(stations: int, sockets: int, repeat: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    folder = tempfile.mkdtemp()
    ids = [f"BENCH-{i:04d}" for i in range(stations)]
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite:///{folder}/bench.sqlite3",
            "ocpp_host": "127.0.0.1",
            "ocpp_port": 0,
            "api_port": 0,
            "sites": [
                {
                    "id": "bench",
                    "grid_limit_a": 400,
                    "meter": {"type": "none"},
                    "stations": [{"id": sid} for sid in ids],
                }
            ],
        }
    )
    async with running_central_system(settings) as cs:
        now = time.time()
        for sid in ids:
            await cs.store.stations.create(sid, "accepted", now)
            for connector in range(1, sockets + 1):
                status = StatusRecord(connector, "Available", "NoError", None, None, None, None)
                await cs.store.stations.record_status(sid, status, now)
        loop = cs.charging.sites["bench"]
        for sid in ids:
            loop.model.declared_connectors[sid] = sockets
        pages = {
            "site view": "/console/sites/bench",
            "stations list": "/console/stations",
            "station page": f"/console/stations/{ids[0]}",
        }
        async with httpx.AsyncClient(base_url=cs.api_url, timeout=30) as client:
            site = (await client.get("/api/v1/sites/bench")).json()
            print(
                f"console render: {stations} stations, {len(site['connectors'])} sockets "
                f"in the site view, {repeat} repeats (loopback HTTP, SQLite)"
            )
            for name, path in pages.items():
                await client.get(path)  # warm-up (templates compiled)
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    answer = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text[:500]
                median = statistics.median(times)
                verdict = "ok" if median < TARGET_MS else f"over the {TARGET_MS:.0f} ms target"
                print(
                    f"  {name:14} median {median:7.1f} ms  slowest {max(times):7.1f} ms  "
                    f"{len(answer.content) / 1024:6.0f} KiB  {verdict}"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.stations, args.sockets, args.repeat))
