"""Work that runs once: two nodes evaluate the alerts, only the holder of the singleton lease
posts a transition to the webhook; when it stops, the other node takes the lease over and
posts the next transition — each once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from csms.app import CentralSystem
from csms.cluster.leases import SINGLETON
from tests.cluster.leader_rig import node
from tests.support.databases import make_settings
from tests.support.fixtures_sim import StationFactory
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres


class Receiver:
    """A local HTTP server recording the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line.split(":", 1)[1]) for line in head.decode().split("\r\n")
                     if line.lower().startswith("content-length:")), 0,
                )  # fmt: skip
                self.bodies.append(json.loads(await reader.readexactly(length)))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    async with server:
        yield receiver


def holds_singleton(cs: CentralSystem) -> bool:
    return cs.leases is not None and cs.leases.epoch(SINGLETON) is not None


async def test_alert_transitions_are_posted_once_and_by_the_singleton_holder(
    postgres_url: str, sim_stations: StationFactory
) -> None:
    async with receiving() as receiver:
        settings = make_settings(
            postgres_url,
            cluster={"enabled": True, "node_lease_s": 2, "site_takeover_s": 6},
            alerts={"check_interval_s": 0.2, "webhook_url": f"http://127.0.0.1:{receiver.port}/"},
        )
        a_stack = contextlib.AsyncExitStack()
        a = await a_stack.enter_async_context(node(settings, "node-a"))
        try:
            await eventually(lambda: holds_singleton(a), 20)
            async with node(settings, "node-b") as b:
                assert not holds_singleton(b)
                (station,) = await sim_stations(
                    1, b.ocpp_url, config={"Active-LoadBalancing": "On"}
                )
                key = f"connector-faulted:{station.station_id}:0"
                station.meter_lost = True  # connector 0 Faulted: an alert on every node
                await eventually(
                    lambda: all(key in {x.key for x in cs.alerts.active()} for cs in (a, b)), 60
                )
                await eventually(lambda: len(receiver.bodies) >= 1, 30)
                assert [(x["state"], x["key"]) for x in receiver.bodies] == [("raised", key)]
                assert a.alerts.reported >= 1 and b.alerts.reported == 0

                # A stops: B takes the singleton over and reports the next transition.
                await a_stack.aclose()
                await eventually(lambda: holds_singleton(b), 20)
                station.meter_lost = False
                await eventually(lambda: key not in {x.key for x in b.alerts.active()}, 60)
                await eventually(lambda: len(receiver.bodies) >= 2, 30)
                assert [(x["state"], x["key"]) for x in receiver.bodies] == [
                    ("raised", key), ("cleared", key)
                ]  # fmt: skip
        finally:
            await a_stack.aclose()
