"""A station built on the `ocpp` library's ChargePoint (client role) for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
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


__all__ = ["LibraryStation", "call", "library_station"]
