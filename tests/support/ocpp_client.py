"""A station built on the `ocpp` library's ChargePoint (client role) for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import websockets
from ocpp.v16 import ChargePoint, call


class LibraryStation(ChargePoint):  # type: ignore[misc]
    """The ocpp library's ChargePoint; incoming CALLs answered by `answers` (or NotImplemented)."""


@contextlib.asynccontextmanager
async def library_station(
    url: str, station_id: str, **connect_kwargs: Any
) -> AsyncIterator[LibraryStation]:
    async with websockets.connect(
        f"{url}/{station_id}", subprotocols=["ocpp1.6"], **connect_kwargs
    ) as ws:
        cp = LibraryStation(station_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class RawStation:
    """A raw OCPP-J client on a real websocket: sends CALLs, answers the central system's CALLs
    when told. A station that `boots` records every CALL it received before its BootNotification
    was answered (`calls_before_boot_answer`), as a real station would refuse them."""

    def __init__(self, ws: websockets.ClientConnection, boots: bool = False) -> None:
        self.ws = ws
        self.boots = boots
        self.boot_answered = False
        self.calls_before_boot_answer: list[list[Any]] = []
        self.calls: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[list[Any]]] = {}
        self._counter = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self.ws:
                frame = json.loads(text)
                if frame[0] == 2:
                    if self.boots and not self.boot_answered:
                        self.calls_before_boot_answer.append(frame)
                    self.calls.put_nowait(frame)
                elif frame[1] in self._answers:
                    if frame[1].startswith("boot-"):
                        self.boot_answered = True
                    self._answers.pop(frame[1]).set_result(frame)

    async def send_call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a CALL and return the whole answer frame."""
        self._counter += 1
        prefix = "boot-" if action == "BootNotification" else "m-"
        unique_id = f"{prefix}{self._counter}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._answers[unique_id] = future
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(future, 30)

    async def next_call(self, within_s: float = 30) -> list[Any]:
        """The next CALL the central system sent."""
        return await asyncio.wait_for(self.calls.get(), within_s)

    async def answer(self, frame: list[Any], payload: dict[str, Any]) -> None:
        await self.ws.send(json.dumps([3, frame[1], payload]))

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def raw_station(
    url: str, station_id: str, boots: bool = False, **connect_kwargs: Any
) -> AsyncIterator[RawStation]:
    """A `RawStation` connected to `url/station_id`, closed afterwards."""
    ws = await websockets.connect(f"{url}/{station_id}", subprotocols=["ocpp1.6"], **connect_kwargs)
    station = RawStation(ws, boots)
    try:
        yield station
    finally:
        await station.close()


__all__ = ["LibraryStation", "RawStation", "call", "library_station", "raw_station"]
