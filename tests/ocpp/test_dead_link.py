"""A station that vanishes without closing is marked offline once pings go unanswered: within
ping_interval_s + ping_timeout_s, as documented, not one more timeout for a closing handshake."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from csms.app import running_central_system
from tests.support.databases import make_settings
from tests.support.fixtures_sim import eventually
from tests.support.ocpp_client import raw_station

INTERVAL_S, TIMEOUT_S = 0.5, 4.0
# Slack for a loaded test machine; still far below one more TIMEOUT_S (what the closing
# handshake of websockets' own keepalive used to add).
SLACK_S = 2.0


async def _ghost(port: int, station_id: str) -> asyncio.StreamWriter:
    """Open the websocket by hand, then never read or answer a ping again: a dead link."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
    )
    status = await reader.readline()
    assert b"101" in status
    return writer


async def test_silent_station_goes_offline_within_interval_plus_timeout(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3", ping_interval_s=INTERVAL_S, ping_timeout_s=TIMEOUT_S
    )
    async with running_central_system(settings) as cs:
        port = int(cs.ocpp_url.rsplit(":", 1)[1].split("/")[0])
        loop = asyncio.get_running_loop()
        writer = await _ghost(port, "GHOST-1")
        died_at = loop.time()  # it never answered anything after the handshake
        await eventually(lambda: cs.registry.is_online("GHOST-1"))
        # Marked online in the database first: reads do not queue behind the writer's commits,
        # so a read right after the session opened may still see the row from registration.
        for _ in range(3000):  # 60 s at most
            row = await cs.store.stations.get("GHOST-1")
            if row is not None and row.online:
                break
            await asyncio.sleep(0.02)
        # Marked offline in the database (written just after the session ends).
        for _ in range(3000):  # 60 s at most
            row = await cs.store.stations.get("GHOST-1")
            if row is not None and not row.online:
                break
            await asyncio.sleep(0.02)
        elapsed = loop.time() - died_at
        # At least the pong timeout (a lower bound cannot flake); at most interval + timeout.
        assert TIMEOUT_S <= elapsed <= INTERVAL_S + TIMEOUT_S + SLACK_S, elapsed
        assert row is not None and not row.online and row.last_seen is not None
        assert not cs.registry.is_online("GHOST-1")
        writer.close()


async def test_station_that_answers_pings_stays_online(tmp_path: Path) -> None:
    """The session's own keepalive must not drop a quiet but live station."""
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3", ping_interval_s=0.2, ping_timeout_s=5.0
    )
    async with (
        running_central_system(settings) as cs,
        raw_station(cs.ocpp_url, "QUIET-1") as station,
    ):
        await eventually(lambda: cs.registry.is_online("QUIET-1"))
        session = cs.registry.get("QUIET-1")
        await asyncio.sleep(2)  # about ten ping rounds, no messages
        assert cs.registry.get("QUIET-1") is session and cs.registry.is_online("QUIET-1")
        assert session is not None and session.ws.latency > 0  # pings were sent and answered
        assert (await station.send_call("Heartbeat", {}))[0] == 3
