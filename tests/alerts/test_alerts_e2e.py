"""Acceptance 4 of issue 12: a simulated station reports its connector 0 Faulted with Alfen's
vendor error 210; the event log shows it with its meaning, an alert appears for it and for the
station kept offline past the setting, and a local HTTP receiver gets the webhook (after one
failed attempt, retried)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from csms.app import CentralSystem, running_central_system
from tests.support.cli import csms_ok
from tests.support.databases import make_settings
from tests.support.waiting import eventually


class Receiver:
    """A local HTTP server that records JSON POST bodies; answers 500 to the first request."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length)
                self.requests += 1
                status = "500 Internal Server Error" if self.requests == 1 else "200 OK"
                if self.requests > 1:
                    self.bodies.append(json.loads(body))
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    rec.server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    async with rec.server:
        yield rec


async def test_faulted_connector_offline_station_and_webhook(
    tmp_path: Path, sim_stations: Any, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/csms.sqlite3",
        alerts={"offline_after_s": 1, "check_interval_s": 0.2, "webhook_url": receiver.url},
    )
    async with running_central_system(settings) as cs:
        (station,) = await sim_stations(1, cs.ocpp_url, config={"Active-LoadBalancing": "On"})
        sid = station.station_id
        station.meter_lost = True  # Alfen: connector 0 Faulted, OtherError, vendor error 210

        async with httpx.AsyncClient(base_url=cs.api_url, timeout=60) as client:

            async def faulted_events() -> list[dict[str, Any]]:
                answer = await client.get(
                    f"/api/v1/stations/{sid}/events", params={"kind": "StatusNotification"}
                )
                return [e for e in answer.json() if e["detail"]["status"] == "Faulted"]

            async with asyncio.timeout(60):
                while not (found := await faulted_events()):  # noqa: ASYNC110 - polling the API
                    await asyncio.sleep(0.1)
            event = found[0]
            assert event["detail"]["vendor_error_code"] == "210"
            assert "vendor error 210: Modbus TCP/IP energy management lost" in event["summary"]
            assert "Meter lost, in safe mode" in event["summary"]

            await eventually(
                lambda: any(a.kind == "connector-faulted" for a in cs.alerts.active()), 60
            )
            alerts = (await client.get("/api/v1/alerts")).json()
            assert [a["key"] for a in alerts] == [f"connector-faulted:{sid}:0"]
            assert "vendor error 210" in alerts[0]["message"]

        out = await csms_ok(capsys, cs, "events", sid, "--kind", "StatusNotification")
        assert "vendor error 210" in out

        await station.stop()
        await eventually(lambda: any(a.kind == "station-offline" for a in cs.alerts.active()), 60)
        out = await csms_ok(capsys, cs, "alerts")
        assert f"station {sid} offline" in out and f"{sid} station Faulted" in out

        out = await csms_ok(capsys, cs, "events", sid)
        for kind in ("Connected", "BootNotification", "Disconnected", "StatusNotification"):
            assert kind in out

        # The webhook: the first POST failed (HTTP 500) and was retried; each alert once.
        await eventually(lambda: len(receiver.bodies) >= 2, 60)
        raised = sorted(b["key"] for b in receiver.bodies if b["state"] == "raised")
        assert raised == [f"connector-faulted:{sid}:0", f"station-offline:{sid}"]
        assert receiver.requests == len(receiver.bodies) + 1


async def test_bad_event_queries_are_clear(central_system: CentralSystem) -> None:
    async with httpx.AsyncClient(base_url=central_system.api_url, timeout=60) as client:
        bad = await client.get("/api/v1/events", params={"kind": "Nonsense"})
        assert bad.status_code == 422 and "unknown kind 'Nonsense'" in bad.json()["detail"]
        bad = await client.get("/api/v1/events", params={"since": "last tuesday"})
        assert bad.status_code == 422 and "since" in bad.json()["detail"]
        missing = await client.get("/api/v1/stations/NOPE/events")
        assert missing.status_code == 404
