"""On shutdown every station is told "service restart" (1012), so it reconnects at once instead
of treating the central system as gone (1001 makes some firmware wait minutes)."""

from __future__ import annotations

from pathlib import Path

import websockets

from csms.app import running_central_system
from tests.support.databases import make_settings


async def test_stations_get_close_code_1012_on_shutdown(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/csms.sqlite3")
    async with running_central_system(settings) as cs:
        ws = await websockets.connect(f"{cs.ocpp_url}/STOP-1", subprotocols=["ocpp1.6"])
    # The central system has stopped: the station's socket was closed by it, with 1012.
    await ws.wait_closed()
    assert ws.close_code == 1012
    assert ws.close_reason == "central system restarting"
