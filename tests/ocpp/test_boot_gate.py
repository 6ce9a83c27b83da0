"""No CALL reaches a station before it is ready: the gate's rules, then end to end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from csms.app import running_central_system
from csms.ocpp.bootgate import BootGate, GateState
from csms.ocpp.errors import StationOffline
from csms.ocpp.session import SessionPolicy, StationRefused, StationSession
from tests.support.databases import make_settings
from tests.support.fixtures_sim import eventually
from tests.support.ocpp_client import raw_station

BOOT = {"chargePointVendor": "Alfen BV", "chargePointModel": "NG920"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
W, B, R, X = GateState.WAITING, GateState.BOOTING, GateState.READY, GateState.REFUSED

# (name, steps, time of the last look, expected state). A step ">Action" is a CALL received,
# "<Action:Status" our answer sent ("<Action:!" a CALLERROR), all with a grace of 30 s.
GATE_CASES: list[tuple[str, str, float, GateState]] = [
    ("nothing yet", "", 5, W),
    ("silent past the grace", "", 30, R),
    ("boot being answered", ">Boot", 5, B),
    ("boot in progress outlives the grace", ">Boot", 60, B),
    ("boot accepted", ">Boot <Boot:Accepted", 1, R),
    ("boot pending", ">Boot <Boot:Pending", 1, R),
    ("boot rejected", ">Boot <Boot:Rejected", 1, X),
    ("rejected stays refused past the grace", ">Boot <Boot:Rejected", 99, X),
    ("rejected, then heartbeats", ">Boot <Boot:Rejected >Heartbeat <Heartbeat:-", 1, X),
    ("rejected, then accepted", ">Boot <Boot:Rejected >Boot <Boot:Accepted", 1, R),
    ("boot answered with a CALLERROR", ">Boot <Boot:!", 1, W),
    ("boot CALLERROR, grace over", ">Boot <Boot:!", 30, R),
    ("reconnect: status first", ">StatusNotification <StatusNotification:-", 1, R),
    ("reconnect: an invalid heartbeat proves it booted too", ">Heartbeat <Heartbeat:!", 1, R),
    ("non-boot CALL received, not yet answered", ">Heartbeat", 1, W),
    ("reboot on the same socket closes it again", ">Heartbeat <Heartbeat:- >Boot", 1, B),
]


@pytest.mark.parametrize(
    ("steps", "now", "expected"), [c[1:] for c in GATE_CASES], ids=[c[0] for c in GATE_CASES]
)
def test_gate_rules(steps: str, now: float, expected: GateState) -> None:
    gate = BootGate(grace_s=30, opened_at=0)
    for step in steps.split():
        action, _, status = step[1:].replace("Boot", "BootNotification").partition(":")
        if step[0] == ">":
            gate.on_call_received(action)
        else:
            gate.on_answer_sent(action, None if status == "!" else {"status": status})
    assert gate.state_at(now) is expected


def test_gate_wait_is_the_rest_of_the_grace() -> None:
    gate = BootGate(grace_s=30, opened_at=100)
    assert gate.wait_s(110) == 20
    gate.on_call_received("BootNotification")
    assert gate.wait_s(110) is None  # only the answer can open it now


async def _online(cs: Any, station_id: str) -> None:
    await eventually(lambda: cs.registry.is_online(station_id))


@pytest.mark.parametrize("policy", ["accept", "pending"])
async def test_no_call_before_the_boot_answer(tmp_path: Path, policy: str) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", unknown_stations=policy)
    async with (
        running_central_system(settings) as cs,
        raw_station(cs.ocpp_url, "GATE-1", boots=True) as station,
    ):
        await _online(cs, "GATE-1")
        config = asyncio.create_task(cs.registry.call("GATE-1", "GetConfiguration", {}))
        await asyncio.sleep(0.3)  # a real station takes a moment to send its BootNotification
        answer = await station.send_call("BootNotification", BOOT)
        assert answer[2]["status"] == ("Accepted" if policy == "accept" else "Pending")
        frame = await station.next_call()
        assert frame[2] == "GetConfiguration"
        assert station.calls_before_boot_answer == []
        await station.answer(frame, {"configurationKey": []})
        assert await config == {"configurationKey": []}


async def test_reconnected_station_is_ready_after_its_first_message(tmp_path: Path) -> None:
    """No BootNotification (the websocket only re-opened): its first message proves it ready,
    long before the grace time."""
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", boot_grace_s=300)
    async with (
        running_central_system(settings) as cs,
        raw_station(cs.ocpp_url, "GATE-2") as station,
    ):
        await _online(cs, "GATE-2")
        config = asyncio.create_task(cs.registry.call("GATE-2", "GetConfiguration", {}))
        with pytest.raises(TimeoutError):
            await station.next_call(within_s=0.3)  # held back: nothing proves it ready yet
        assert (await station.send_call("StatusNotification", STATUS))[0] == 3
        frame = await station.next_call()
        await station.answer(frame, {"configurationKey": []})
        assert await config == {"configurationKey": []}


async def test_silent_station_gets_calls_after_the_grace(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", boot_grace_s=0.5)
    async with (
        running_central_system(settings) as cs,
        raw_station(cs.ocpp_url, "GATE-3") as station,
    ):
        await _online(cs, "GATE-3")
        session = cs.registry.get("GATE-3")
        assert session is not None
        loop = asyncio.get_running_loop()
        config = asyncio.create_task(cs.registry.call("GATE-3", "GetConfiguration", {}))
        frame = await station.next_call()
        # Not before the grace time counted from the connection (a lower bound cannot flake).
        assert loop.time() - session.gate.deadline >= 0
        await station.answer(frame, {"configurationKey": []})
        assert await config == {"configurationKey": []}


async def _rejecting_handler(
    station_id: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    if action == "BootNotification":
        return {"status": "Rejected", "currentTime": "2026-01-01T00:00:00Z", "interval": 60}
    return {"currentTime": "2026-01-01T00:00:00Z"}


@contextlib.asynccontextmanager
async def _session_server(
    policy: SessionPolicy,
) -> AsyncIterator[tuple[str, asyncio.Queue[StationSession]]]:
    """A websocket server running bare `StationSession`s with a handler that rejects boots."""
    sessions: asyncio.Queue[StationSession] = asyncio.Queue()

    async def connection(ws: ServerConnection) -> None:
        session = StationSession("REJ-1", ws, _rejecting_handler, 10, lambda: 0.0, policy)
        sessions.put_nowait(session)
        await session.run()

    async with serve(connection, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}", sessions


async def test_station_rejected_at_boot_gets_no_calls() -> None:
    policy = SessionPolicy(boot_grace_s=0.2, ping_interval_s=None)
    async with _session_server(policy) as (url, sessions), raw_station(url, "REJ-1") as station:
        session = await asyncio.wait_for(sessions.get(), 10)
        waiting = asyncio.create_task(session.call("GetConfiguration", {}))
        answer = await station.send_call("BootNotification", BOOT)
        assert answer[2]["status"] == "Rejected"
        with pytest.raises(StationRefused):
            await asyncio.wait_for(waiting, 10)
        await asyncio.sleep(0.4)  # past the grace time: still refused
        with pytest.raises(StationRefused):
            await session.call("Reset", {"type": "Soft"})
        assert (await station.send_call("Heartbeat", {}))[0] == 3
        with pytest.raises(StationRefused):
            await session.call("Reset", {"type": "Soft"})
        assert station.calls.empty()


async def test_waiting_call_fails_when_the_station_leaves(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", boot_grace_s=300)
    async with running_central_system(settings) as cs:
        async with raw_station(cs.ocpp_url, "GATE-4"):
            await _online(cs, "GATE-4")
            waiting = asyncio.create_task(cs.registry.call("GATE-4", "GetConfiguration", {}))
            await asyncio.sleep(0.1)
        with pytest.raises(StationOffline):
            await asyncio.wait_for(waiting, 10)
