"""A station's connection lifecycle: attach, online, detach — also when storage fails, and for
links that are closing but not closed yet."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from pathlib import Path

import pytest
import websockets
from ocpp.v16 import call

from csms.app import running_central_system
from csms.storage import DatabaseError
from tests.support.databases import make_settings
from tests.support.fixtures_sim import eventually
from tests.support.ocpp_client import library_station


async def test_failed_online_write_still_detaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The field report: set_online failed on connect and 12 of 30 stations stayed online."""
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3")
    async with running_central_system(settings) as cs:
        real = cs.store.stations.set_online
        calls = 0

        async def flaky(station_id: str, online: bool, now: float) -> None:
            nonlocal calls
            calls += 1
            if online and calls % 3 == 0:
                raise DatabaseError("database is locked")
            await real(station_id, online, now)

        monkeypatch.setattr(cs.store.stations, "set_online", flaky)
        links = []
        for i in range(30):
            ws = await websockets.connect(f"{cs.ocpp_url}/LIFE-{i}", subprotocols=["ocpp1.6"])
            links.append(ws)
        # Every station got an answer: an open session, or a close asking it to come back.
        await eventually(lambda: all(ws.state.name in ("OPEN", "CLOSED") for ws in links), 30)
        for ws in links:
            await ws.close()
        await eventually(lambda: not cs.registry.online_ids(), 30)

        async def still_online() -> list[str]:
            return [r.id for r in await cs.store.stations.all() if r.online]

        for _ in range(500):
            if not await still_online():
                break
            await asyncio.sleep(0.02)
        assert await still_online() == []
        assert len(await cs.store.stations.all()) == 30


async def test_failed_online_write_closes_with_1011_and_reconnect_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3")
    async with running_central_system(settings) as cs:
        real = cs.store.stations.set_online
        fail = True

        async def failing_once(station_id: str, online: bool, now: float) -> None:
            nonlocal fail
            if online and fail:
                fail = False
                raise DatabaseError("connection lost")
            await real(station_id, online, now)

        monkeypatch.setattr(cs.store.stations, "set_online", failing_once)
        caplog.set_level(logging.ERROR)
        async with websockets.connect(f"{cs.ocpp_url}/LIFE-X", subprotocols=["ocpp1.6"]) as ws:
            await ws.wait_closed()
            assert ws.close_code == 1011
        assert not [r for r in caplog.records if r.exc_info]
        assert not cs.registry.is_online("LIFE-X")
        async with library_station(cs.ocpp_url, "LIFE-X") as cp:
            await cp.call(call.Heartbeat())
            assert cs.registry.is_online("LIFE-X")
            row = await cs.store.stations.get("LIFE-X")
            assert row is not None and row.online


async def _stalled_link(
    port: int, station_id: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket handshake, then nothing: the peer reads no more frames and answers nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
    )
    assert b"101" in await reader.readline()
    return reader, writer


async def test_closing_link_is_offline_at_once(tmp_path: Path) -> None:
    """A stalled link that is being closed waits for a closing handshake that never comes (up to
    the close timeout); it must not count as online meanwhile."""
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3", ping_interval_s=600, ping_timeout_s=600
    )
    async with running_central_system(settings) as cs:
        _, writer = await _stalled_link(cs.ocpp.port, "STALL-1")
        await eventually(lambda: cs.registry.is_online("STALL-1"))
        session = cs.registry.get("STALL-1")
        assert session is not None
        closing = asyncio.create_task(session.close(1000, "bye"))
        await eventually(lambda: session.ws.state.name == "CLOSING")
        assert not session.closed.is_set()  # still waiting for the peer's close frame …
        assert not cs.registry.is_online("STALL-1")  # … but not online
        assert "STALL-1" not in cs.registry.online_ids()
        writer.close()  # the peer goes away: the closing ends
        await asyncio.wait_for(closing, 30)
        await eventually(lambda: cs.registry.get("STALL-1") is None, 30)


async def test_reconnect_over_a_stalled_link_then_leave(tmp_path: Path) -> None:
    """The station comes back on a new socket while the old one is stalled, then leaves: it is
    offline at once, whatever the old socket's closing still waits for."""
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3", ping_interval_s=600, ping_timeout_s=600
    )
    async with running_central_system(settings) as cs:
        _, writer = await _stalled_link(cs.ocpp.port, "STALL-2")
        await eventually(lambda: cs.registry.is_online("STALL-2"))
        old = cs.registry.get("STALL-2")
        async with library_station(cs.ocpp_url, "STALL-2") as cp:
            await cp.call(call.Heartbeat())
            assert cs.registry.get("STALL-2") is not old
            assert cs.registry.is_online("STALL-2")
        await eventually(lambda: not cs.registry.is_online("STALL-2"), 30)
        for _ in range(500):
            row = await cs.store.stations.get("STALL-2")
            if row is not None and not row.online:
                break
            await asyncio.sleep(0.02)
        assert row is not None and not row.online
        assert old is not None and not old.closed.is_set()  # still closing the stalled one
        writer.close()
