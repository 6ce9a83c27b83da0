"""Helpers of the operations tests: the CLI and the API of a running central system."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from csms.app import CentralSystem
from csms.sim.station import SimStation
from tests.support.waiting import eventually

SLOW = 60.0
"""Bounds that only stop a broken test from hanging: the machine is shared and loaded."""


async def api(
    cs: CentralSystem,
    method: str,
    path: str,
    body: Any = None,
    status: int = 200,
    token: str | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=cs.api_url, timeout=SLOW, headers=headers) as client:
        response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def start_station(sim_stations: Any, cs: CentralSystem, **kwargs: Any) -> SimStation:
    """A simulated Alfen Eve Double, booted and online."""
    (station,) = await sim_stations(1, cs.ocpp_url, prefix="ALF-", sockets=2, **kwargs)
    await eventually(lambda: cs.registry.is_online(station.station_id), SLOW)
    return station


async def until(check: Callable[[], Awaitable[bool]], within_s: float = SLOW) -> None:
    """Poll an async `check` (a database read) until it holds; TimeoutError after `within_s`."""
    async with asyncio.timeout(within_s):
        while not await check():  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.05)


async def stopped(cs: CentralSystem, tx: int) -> bool:
    record = await cs.store.transactions.get(tx)
    return record is not None and record.stopped_at is not None


async def has_event(cs: CentralSystem, sid: str, kind: str) -> bool:
    return bool(await cs.store.events.for_station(sid, kind, limit=1))
