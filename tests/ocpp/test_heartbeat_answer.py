"""A Heartbeat is answered without waiting for the database; its time is written right after
(csms/storage/stations.py, `note_heartbeat`). Everything else still waits for its commit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import websockets

from csms.app import running_central_system
from csms.storage import Stmt
from tests.support.databases import make_settings
from tests.support.ocpp_client import RawStation

BOOT = {"chargePointVendor": "Alfen BV", "chargePointModel": "NG920"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


async def test_a_heartbeat_is_answered_while_the_database_holds_its_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/c.sqlite3")
    async with (
        running_central_system(settings) as cs,
        websockets.connect(f"{cs.ocpp_url}/HB-E2E", subprotocols=["ocpp1.6"]) as ws,
    ):
        station = RawStation(ws)
        assert (await station.send_call("BootNotification", BOOT))[2]["status"] == "Accepted"

        held = asyncio.Event()
        write = cs.db.write

        async def held_write(*stmts: Stmt) -> Any:
            await held.wait()  # a commit that takes as long as the test wants
            return await write(*stmts)

        monkeypatch.setattr(cs.db, "write", held_write)
        answer = await asyncio.wait_for(station.send_call("Heartbeat", {}), 5)
        assert answer[0] == 3 and "currentTime" in answer[2]
        # A StatusNotification is stored before its answer: it waits for the commit.
        status = asyncio.create_task(station.send_call("StatusNotification", STATUS))
        await asyncio.sleep(0.3)
        assert not status.done()
        record = await cs.store.stations.get("HB-E2E")
        assert record is not None and record.last_heartbeat is None

        held.set()
        assert (await status)[0] == 3
        await cs.store.stations.heartbeats_written()
        record = await cs.store.stations.get("HB-E2E")
        assert record is not None and record.last_heartbeat is not None
