"""Outgoing CALLs: one in flight, answers matched by id, reconnects replace the old session."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from csms.app import running_central_system
from csms.ocpp.errors import CallErrorReceived, CallTimeout, StationOffline
from tests.support.databases import make_settings


async def _connect(url: str, station_id: str) -> websockets.ClientConnection:
    """A station that re-opened its websocket: its first message (no BootNotification) makes it
    ready for CALLs."""
    ws = await websockets.connect(f"{url}/{station_id}", subprotocols=["ocpp1.6"])
    await ws.send(json.dumps([2, "hello", "Heartbeat", {}]))
    assert json.loads(await ws.recv())[:2] == [3, "hello"]
    return ws


async def test_one_call_in_flight_and_late_answer_dropped(tmp_path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", response_timeout_s=0.5)
    async with running_central_system(settings) as cs:
        ws = await _connect(cs.ocpp_url, "ST-1")
        for _ in range(100):
            if cs.registry.is_online("ST-1"):
                break
            await asyncio.sleep(0.01)
        first = asyncio.create_task(cs.registry.call("ST-1", "GetConfiguration", {"key": ["A"]}))
        second = asyncio.create_task(cs.registry.call("ST-1", "GetConfiguration", {"key": ["B"]}))
        frame1 = json.loads(await ws.recv())
        assert frame1[2:] == ["GetConfiguration", {"key": ["A"]}]
        # The second CALL is not sent while the first waits for its answer …
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await ws.recv()
        # … the first times out; its late answer must not be taken as the second's.
        with pytest.raises(CallTimeout):
            await first
        frame2 = json.loads(await ws.recv())
        assert frame2[2:] == ["GetConfiguration", {"key": ["B"]}]
        await ws.send(json.dumps([3, frame1[1], {"configurationKey": [{"key": "A"}]}]))
        await ws.send(json.dumps([3, frame2[1], {"configurationKey": [{"key": "B"}]}]))
        assert (await second)["configurationKey"][0]["key"] == "B"

        third = asyncio.create_task(cs.registry.call("ST-1", "Reset", {"type": "Soft"}))
        frame3 = json.loads(await ws.recv())
        await ws.send(json.dumps([4, frame3[1], "NotSupported", "no", {}]))
        with pytest.raises(CallErrorReceived) as error:
            await third
        assert error.value.code == "NotSupported"
        await ws.close()
        with pytest.raises(StationOffline):
            for _ in range(100):
                await cs.registry.call("ST-1", "Reset", {"type": "Soft"})
                await asyncio.sleep(0.01)


async def test_reconnect_replaces_session(central_system) -> None:
    cs = central_system
    old = await _connect(cs.ocpp_url, "ST-2")
    for _ in range(100):
        if cs.registry.is_online("ST-2"):
            break
        await asyncio.sleep(0.01)
    first_session = cs.registry.get("ST-2")
    new = await _connect(cs.ocpp_url, "ST-2")
    await asyncio.wait_for(old.wait_closed(), 5)
    for _ in range(100):
        if cs.registry.get("ST-2") is not first_session:
            break
        await asyncio.sleep(0.01)
    assert cs.registry.get("ST-2") is not first_session
    assert cs.registry.is_online("ST-2")
    call = asyncio.create_task(cs.registry.call("ST-2", "ClearCache", {}))
    frame = json.loads(await new.recv())
    await new.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
    assert await call == {"status": "Accepted"}
    row = await cs.store.stations.get("ST-2")
    assert row is not None and row.online
    await new.close()
    for _ in range(200):
        row = await cs.store.stations.get("ST-2")
        if row is not None and not row.online:
            break
        await asyncio.sleep(0.01)
    assert row is not None and not row.online and row.last_seen is not None


async def test_reconnect_is_served_while_the_old_link_is_dead(tmp_path) -> None:
    """The old socket of a station that reconnects is usually dead: closing it must not hold
    up the new session for the whole close timeout."""
    from csms.app import running_central_system
    from tests.support.databases import make_settings

    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", ping_timeout_s=60)
    async with running_central_system(settings) as cs:
        old = await _connect(cs.ocpp_url, "ST-DEAD")
        await old.send(json.dumps([2, "h0", "Heartbeat", {}]))
        await old.recv()
        old.transport.pause_reading()  # a dead peer: never reads (or answers) our close frame
        new = await _connect(cs.ocpp_url, "ST-DEAD")
        await new.send(json.dumps([2, "h1", "Heartbeat", {}]))
        reply = json.loads(await asyncio.wait_for(new.recv(), 10))
        assert reply[:2] == [3, "h1"]
        await new.close()
        old.transport.abort()
