"""What the station simulator costs: N simulated double stations in one process.

Starts a bare OCPP-J answering server (raw frames, no validation — so the figures are the
simulator's, not a central system's), N double-socket stations with an EV on every socket and
MeterValueSampleInterval S, and measures: time until all booted, time until every socket has a
transaction, then over a window of W seconds the process CPU share, frames/s and memory.

    .venv/bin/python benchmarks/sim_stations.py [--stations 250] [--interval 10] [--window 20]
                                                [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from websockets.asyncio.server import ServerConnection, serve

from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from csms.sim.site import SimSite

NOW = "2024-01-01T00:00:00Z"


class BareServer:
    """Answers every CALL at once: Accepted boots, increasing transaction ids, empty answers."""

    def __init__(self) -> None:
        self.frames = 0
        self.tx_ids = itertools.count(1)

    async def handle(self, ws: ServerConnection) -> None:
        async for message in ws:
            frame = json.loads(message)
            self.frames += 1
            if frame[0] != 2:
                continue
            action = frame[2]
            payload: dict[str, Any] = {}
            if action == "BootNotification":
                payload = {"status": "Accepted", "currentTime": NOW, "interval": 300}
            elif action == "Heartbeat":
                payload = {"currentTime": NOW}
            elif action in ("Authorize",):
                payload = {"idTagInfo": {"status": "Accepted"}}
            elif action == "StartTransaction":
                payload = {"transactionId": next(self.tx_ids), "idTagInfo": {"status": "Accepted"}}
            await ws.send(json.dumps([3, frame[1], payload]))


async def main(args: argparse.Namespace) -> None:
    server = BareServer()
    async with serve(
        server.handle, "127.0.0.1", 0, subprotocols=["ocpp1.6"], compression=None
    ) as ws_server:  # type: ignore[list-item]
        port = next(iter(ws_server.sockets)).getsockname()[1]
        site = SimSite(SimClock(speed=args.speed))
        site.create(
            args.stations,
            f"ws://127.0.0.1:{port}/ocpp",
            sockets=2,
            config={"MeterValueSampleInterval": str(args.interval)},
        )
        t0 = time.perf_counter()
        await site.start()
        await site.wait_booted(within_s=120)
        booted = time.perf_counter() - t0
        for n, station in enumerate(site.stations):
            for connector in (1, 2):
                station.plug_in(connector, SimEv(max_current_a=16, phases=1 + 2 * (n % 2)))
        await asyncio.gather(
            *(s.wait_transaction(c, within_s=120) for s in site.stations for c in (1, 2))
        )
        started = time.perf_counter() - t0 - booted
        frames0, cpu0, wall0 = server.frames, time.process_time(), time.perf_counter()
        await asyncio.sleep(args.window)
        frames = server.frames - frames0
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        await site.stop()
        await site.clock.close()
    sockets = 2 * args.stations
    print(f"{args.stations} double stations ({sockets} sockets), speed {args.speed:g}x, "
          f"MeterValueSampleInterval {args.interval} s")  # fmt: skip
    print(f"  connect + boot all:           {booted:6.2f} s")
    print(f"  every socket in a transaction: {started:6.2f} s")
    print(f"  steady state over {wall:.0f} s:      {frames / wall:7.1f} frames/s received, "
          f"CPU {100 * cpu / wall:5.1f} % of one core (simulator + bare server)")  # fmt: skip
    print(f"  peak RSS:                      {rss_mb:6.1f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=250)
    parser.add_argument("--interval", type=int, default=10, help="MeterValueSampleInterval, s")
    parser.add_argument("--window", type=float, default=20.0, help="measuring window, s")
    parser.add_argument("--speed", type=float, default=1.0)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args()))
