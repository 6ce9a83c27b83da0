"""Paced opening handshakes (csms/ocpp/pacing.py): a storm of connections far larger than the
number of handshakes worked on at a time is accepted and booted whole, on asyncio's loop and on
uvloop (which accepts the whole backlog at once), and a connection that sends no request does not
hold a place."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import uvloop
import websockets

from csms.app import running_central_system
from csms.ocpp import server
from csms.storage.records import StationRecord
from tests.support.databases import make_settings
from tests.support.waiting import eventually

BOOT = [2, "b1", "BootNotification", {"chargePointVendor": "Alfen BV", "chargePointModel": "NG9"}]
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


async def boot(url: str) -> str:
    """Connect (waiting as long as it takes), boot, and return the boot status."""
    async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=90) as ws:
        await ws.send(orjson.dumps(BOOT).decode())
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 90))
    return str(answer[2]["status"])


async def storm(db: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # Two handshakes at a time, store lookups slowed by 0.05 s (a new station is looked up twice,
    # and registered one at a time) and a 3 s open timeout: the 60 handshakes need over 6 s of
    # turns, so counted from the accept the later ones would time out; from their turn none does.
    monkeypatch.setattr(server, "OPEN_TIMEOUT_S", 3.0)
    settings = make_settings(f"sqlite:///{db}", handshakes_at_once=2)
    async with running_central_system(settings) as cs:
        real_get = cs.store.stations.get

        async def slow_get(station_id: str) -> StationRecord | None:
            await asyncio.sleep(0.05)
            return await real_get(station_id)

        monkeypatch.setattr(cs.store.stations, "get", slow_get)
        return await asyncio.gather(*(boot(f"{cs.ocpp_url}/PACE-{i:03d}") for i in range(60)))


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_storm_larger_than_the_bound_is_accepted_whole(
    loop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        statuses = runner.run(storm(tmp_path / "s.sqlite3", monkeypatch))
    assert statuses == ["Accepted"] * 60


async def test_a_silent_connection_holds_no_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One handshake at a time and three sockets that never send their request: a station still
    boots while they wait (they are dropped only after the open timeout, 60 s here)."""
    monkeypatch.setattr(server, "OPEN_TIMEOUT_S", 60.0)
    settings = make_settings(f"sqlite:///{tmp_path}/q.sqlite3", handshakes_at_once=1)
    async with running_central_system(settings) as cs:
        silent = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", cs.ocpp.port))
            silent.append(sock)
        try:
            assert await boot(f"{cs.ocpp_url}/QUIET-1") == "Accepted"
            for sock in silent:  # still connected: the station did not wait for them
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1)
        finally:
            for sock in silent:
                sock.close()
        await eventually(lambda: "QUIET-1" not in cs.registry.online_ids(), 30)
