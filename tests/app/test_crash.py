"""SIGKILL right after acknowledgements: every acknowledged row survives the restart."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
from pathlib import Path

import websockets

from tests.support.serve import start_serve

START = {"connectorId": 1, "idTag": "TAG", "meterStart": 1200, "timestamp": "2026-11-21T10:00:00Z"}


async def _start_server(db: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await start_serve(db, "--unknown-stations", "accept", stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    match = re.search(r"(ws://\S+)/\{stationId\}", line)
    assert match, line
    return proc, match.group(1)


async def _call(ws: websockets.ClientConnection, uid: str, action: str, payload: dict) -> dict:
    await ws.send(json.dumps([2, uid, action, payload]))
    reply = json.loads(await ws.recv())
    assert reply[:2] == [3, uid], reply
    return reply[2]


async def test_kill_after_ack_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "csms.sqlite3"
    proc, url = await _start_server(db)
    try:
        async with websockets.connect(f"{url}/CRASH-1", subprotocols=["ocpp1.6"]) as ws:
            started = await _call(ws, "1", "StartTransaction", START)
            tx = started["transactionId"]
            meter = {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [
                    {
                        "timestamp": "2026-11-21T10:00:10Z",
                        "sampledValue": [
                            {
                                "value": str(v),
                                "measurand": "Current.Import",
                                "phase": p,
                                "unit": "A",
                            }
                            for v, p in ((16, "L1"), (15, "L2"), (14, "L3"))
                        ],
                    }
                ],
            }
            await _call(ws, "2", "MeterValues", meter)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT meter_start FROM transactions WHERE id = ?", (tx,)
        ).fetchone() == (1200,)
        [(samples,)] = conn.execute(
            "SELECT samples FROM meter_values WHERE transaction_id = ?", (tx,)
        ).fetchall()
        assert [(sv["phase"], sv["value"]) for sv in json.loads(samples)] == [
            ("L1", "16"), ("L2", "15"), ("L3", "14"),
        ]  # fmt: skip

    proc, url = await _start_server(db)
    try:
        async with websockets.connect(f"{url}/CRASH-1", subprotocols=["ocpp1.6"]) as ws:
            retried = await _call(ws, "3", "StartTransaction", START)
            assert retried["transactionId"] == tx
            stopped = {"transactionId": tx, "meterStop": 4200, "timestamp": "2026-11-21T11:00:00Z"}
            await _call(ws, "4", "StopTransaction", stopped)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    with sqlite3.connect(db) as conn:
        energy = conn.execute(
            "SELECT meter_stop - meter_start FROM transactions WHERE id = ?", (tx,)
        ).fetchone()
        assert energy == (3000,)
        assert conn.execute("SELECT count(*) FROM transactions").fetchone() == (1,)
