"""Configuration snapshots after a boot storm, and one station's change round trip.

Starts an in-process central system (SQLite in a temp dir) and N simulated Alfen stations that all
boot at once, then measures how long until every station has its post-boot snapshot (paced: a
delay after each boot, at most 8 snapshots in flight), the time of one full snapshot
(`?refresh=true`, and in process), and of a validated ChangeConfiguration with its read-back.

    .venv/bin/python benchmarks/config_snapshots.py [--stations 50] [--boot-delay 2.0]
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
from csms.sim.clock import SimClock
from csms.sim.station import SimStation


async def main(stations: int, boot_delay: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    folder = tempfile.mkdtemp()
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite:///{folder}/bench.sqlite3",
            "ocpp_host": "127.0.0.1",
            "ocpp_port": 0,
            "api_port": 0,
            "unknown_stations": "accept",
        }
    )
    clock = SimClock()
    async with running_central_system(settings) as cs:
        cs.config.boot_delay_s = boot_delay
        sims = [
            SimStation(f"BENCH-{i:04d}", cs.ocpp_url, sockets=2, clock=clock)
            for i in range(stations)
        ]
        started = time.perf_counter()
        for sim in sims:
            await sim.start()
        await asyncio.gather(*(s.wait_booted(60) for s in sims))
        booted = time.perf_counter()
        pending = {s.station_id for s in sims}
        while pending:
            for sid in list(pending):
                if await cs.config.store.latest_snapshot(sid) is not None:
                    pending.discard(sid)
            await asyncio.sleep(0.05)
        done = time.perf_counter()
        print(f"{stations} stations booted in {booted - started:.2f} s; every post-boot "
              f"snapshot stored {done - booted:.2f} s later (boot delay {boot_delay:g} s, "
              "8 in flight)")  # fmt: skip

        async with httpx.AsyncClient(base_url=cs.api_url, timeout=30) as api:
            sid = sims[0].station_id
            full, change = [], []
            for i in range(20):
                t0 = time.perf_counter()
                r = await api.get(f"/api/v1/stations/{sid}/configuration?refresh=true")
                full.append(time.perf_counter() - t0)
                keys = len(r.json()["keys"])
                t0 = time.perf_counter()
                r = await api.put(
                    f"/api/v1/stations/{sid}/configuration/HeartbeatInterval",
                    json={"value": str(60 + i)},
                )
                change.append(time.perf_counter() - t0)
                assert r.json()["state"] == "verified", r.json()
        median_ms = statistics.median(full) * 1000
        print(f"full snapshot of {keys} keys via the API: median {median_ms:.1f} ms")
        print(f"validated change + read-back via the API: median "
              f"{statistics.median(change) * 1000:.1f} ms")  # fmt: skip
        inner = []
        for _ in range(20):
            t0 = time.perf_counter()
            await cs.config.take_snapshot(sid, "request")
            inner.append(time.perf_counter() - t0)
        print(f"full snapshot in process (GetConfiguration + durable write): median "
              f"{statistics.median(inner) * 1000:.1f} ms")  # fmt: skip
        await asyncio.gather(*(s.stop() for s in sims))
    await clock.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--boot-delay", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(main(args.stations, args.boot_delay))
