"""Admission under a flood: many handshakes with made-up station ids, then one Pending station
sending a stream of MeterValues and large DataTransfers.

The field report this answers: under policy `pending`, 2,000 connections with new ids created
2,000 station rows in 6 s, and one unapproved station stored 52,000 meter value rows. Prints how
many handshakes were accepted and refused (by HTTP status), the rows stored, and the time taken,
with the default settings unless overridden.

    .venv/bin/python benchmarks/admission_flood.py [--ids 2000] [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

# The project root first: this folder's balancing.py must not shadow the `balancing` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import websockets
from websockets.exceptions import InvalidStatus

from csms.app import running_central_system
from csms.settings import Settings


async def _handshake(url: str) -> int:
    try:
        async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=120):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def main(ids: int, messages: int, parallel: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "csms.sqlite3"
        settings = Settings.model_validate(
            {
                "database_url": f"sqlite:///{db}",
                "ocpp_host": "127.0.0.1",
                "ocpp_port": 0,
                "api_port": 0,
                "unknown_stations": "pending",
            }
        )
        async with running_central_system(settings) as cs:
            slots = asyncio.Semaphore(parallel)

            async def one(i: int) -> int:
                async with slots:
                    return await _handshake(f"{cs.ocpp_url}/FLOOD-{i:05d}")

            began = time.perf_counter()
            codes = collections.Counter(await asyncio.gather(*(one(i) for i in range(ids))))
            flood_s = time.perf_counter() - began

            meter = {
                "connectorId": 1,
                "transactionId": 1,
                "meterValue": [
                    {
                        "timestamp": "2026-11-21T10:00:00Z",
                        "sampledValue": [
                            {"value": "16", "measurand": "Current.Import", "phase": p}
                            for p in ("L1", "L2", "L3")
                        ]
                        + [{"value": "1000", "unit": "Wh"}],
                    }
                ],
            }
            blob = {"vendorId": "X", "messageId": "blob", "data": "x" * 60_000}
            began = time.perf_counter()
            async with websockets.connect(
                f"{cs.ocpp_url}/FLOOD-00000", subprotocols=["ocpp1.6"]
            ) as ws:
                for n in range(messages):
                    frame = ["MeterValues", meter] if n % 10 else ["DataTransfer", blob]
                    await ws.send(json.dumps([2, str(n), *frame]))
                    await ws.recv()
            stream_s = time.perf_counter() - began

        with sqlite3.connect(db) as conn:
            stations = conn.execute("SELECT count(*) FROM stations").fetchone()[0]
            meter_rows = conn.execute("SELECT count(*) FROM meter_values").fetchone()[0]
            event_rows = conn.execute("SELECT count(*) FROM station_events").fetchone()[0]
            event_bytes = conn.execute(
                "SELECT coalesce(sum(length(payload)), 0) FROM station_events"
            ).fetchone()[0]
    print(f"handshakes with new ids: {ids} in {flood_s:.1f} s ({parallel} at a time)")
    for code, count in sorted(codes.items()):
        print(f"  HTTP {code}: {count}")
    print(f"station rows: {stations}")
    print(
        f"one Pending station, {messages} messages (MeterValues of 4 values, every 10th a 60 KB "
        f"DataTransfer) in {stream_s:.1f} s ({messages / stream_s:.0f}/s)"
    )
    print(f"  meter value rows: {meter_rows}, event rows: {event_rows} ({event_bytes} bytes)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(args.ids, args.messages, args.parallel))
