"""A station that vanishes without closing is marked offline once pings go unanswered."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from csms.app import running_central_system
from tests.conftest import make_settings


async def test_silent_station_goes_offline(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3", ping_interval_s=0.2, ping_timeout_s=0.3
    )
    async with running_central_system(settings) as cs:
        port = int(cs.ocpp_url.rsplit(":", 1)[1].split("/")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /ocpp/GHOST-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        assert b"101" in status
        # From now on the "station" reads nothing and answers no ping, like a dead link.
        for _ in range(100):
            if cs.registry.is_online("GHOST-1"):
                break
            await asyncio.sleep(0.02)
        assert cs.registry.is_online("GHOST-1")
        for _ in range(300):
            if not cs.registry.is_online("GHOST-1"):
                break
            await asyncio.sleep(0.02)
        assert not cs.registry.is_online("GHOST-1")
        # Offline as soon as the ping timed out; the row follows when the socket is closed,
        # which waits up to the close timeout for a closing handshake the dead link never sends.
        for _ in range(300):
            row = await cs.store.stations.get("GHOST-1")
            if row is not None and not row.online:
                break
            await asyncio.sleep(0.02)
        assert row is not None and not row.online and row.last_seen is not None
        writer.close()
