"""Simulator fixtures shared by several test packages (registered in tests/conftest.py).

- `sim_clock`: a `SimClock` (real speed) closed after the test.
- `sim_stations`: a factory `await sim_stations(n, url, sockets=…, **station_kwargs)` that starts
  n booted stations (ids `SIM-0001`…) and stops them after the test.
- `MiniCentralSystem`: a tiny OCPP 1.6 central system (the `ocpp` library in server role on a real
  websocket, 127.0.0.1, ephemeral port) that accepts everything, records every CALL and can send
  any CALL; `tests/sim/conftest.py` gives it as the `mini_cs` fixture.
- `SimulatedSystem`: what `simulated_site_factory` (tests/sim/conftest.py) gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.charge_point import camel_to_snake_case, remove_nones, snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from csms.app import CentralSystem
from csms.settings import Settings
from csms.sim.clock import SimClock
from csms.sim.site import SimSite
from csms.sim.station import SimStation
from tests.support.waiting import eventually


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _RecordingConnection:
    def __init__(self, ws: ServerConnection, cs: MiniCentralSystem, station_id: str) -> None:
        self._ws = ws
        self._cs = cs
        self._log = cs.received.setdefault(station_id, [])
        self._actions: dict[str, str] = {}  # unique id → action of the station's CALLs

    async def recv(self) -> str:
        while True:
            message = await self._ws.recv()
            text = message if isinstance(message, str) else message.decode()
            frame = json.loads(text)
            if frame[0] == 2:
                self._log.append((frame[2], frame[3]))
                self._actions[frame[1]] = frame[2]
                if frame[2] == "BootNotification" and self._cs.inject_before_boot_answer:
                    # A CALL written before the boot is answered (what strict firmware refuses).
                    action, payload = self._cs.inject_before_boot_answer
                    unique_id = f"injected-{len(self._cs.injected) + 1}"
                    self._cs.injected[unique_id] = None
                    await self._ws.send(json.dumps([2, unique_id, action, payload]))
            elif frame[1] in self._cs.injected:
                self._cs.injected[frame[1]] = frame  # an answer to an injected CALL
                continue
            return text

    async def send(self, message: str) -> None:
        await self._ws.send(message)
        frame = json.loads(message)
        inject = self._cs.inject_after_start
        if (
            inject is not None
            and frame[0] == 3
            and self._actions.get(frame[1]) == "StartTransaction"
        ):
            # A CALL written right behind the answer, before anything else can happen.
            action, payload = inject(frame[2]["transactionId"])
            unique_id = f"injected-{len(self._cs.injected) + 1}"
            self._cs.injected[unique_id] = None
            await self._ws.send(json.dumps([2, unique_id, action, payload]))


class _ServerSide(ChargePoint):
    def __init__(self, cs: MiniCentralSystem, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.cs = cs

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(
            current_time=_now(), interval=self.cs.heartbeat_interval, status=self.cs.boot_status
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> Any:
        status = "Invalid" if id_tag in self.cs.invalid_tags else "Accepted"
        return call_result.Authorize(id_tag_info={"status": status})

    @on(Action.start_transaction)
    def on_start(self, **_: Any) -> Any:
        return call_result.StartTransaction(
            transaction_id=next(self.cs.transaction_ids), id_tag_info={"status": "Accepted"}
        )

    @on(Action.stop_transaction)
    def on_stop(self, **_: Any) -> Any:
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()


class MiniCentralSystem:
    """A minimal in-test central system on a real websocket server."""

    def __init__(self) -> None:
        self.boot_status = "Accepted"
        self.heartbeat_interval = 300
        self.invalid_tags: set[str] = set()
        # `inject_after_start(transaction_id) -> (action, payload)`: a CALL written on the wire
        # right behind each StartTransaction answer; the station's answers land in `injected`.
        self.inject_after_start: Callable[[int], tuple[str, dict[str, Any]]] | None = None
        self.injected: dict[str, list[Any] | None] = {}
        # (action, payload) of a CALL written on the wire before each BootNotification answer.
        self.inject_before_boot_answer: tuple[str, dict[str, Any]] | None = None
        self.transaction_ids = itertools.count(1001)
        self.received: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.sessions: dict[str, _ServerSide] = {}
        self.websockets: dict[str, ServerConnection] = {}
        self.connections: dict[str, int] = {}
        self.auth_headers: dict[str, str | None] = {}
        self._server: Server | None = None
        self.url = ""

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=["ocpp1.6"],
            compression=None,  # type: ignore[list-item]
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ocpp"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        self.auth_headers[station_id] = ws.request.headers.get("Authorization")
        self.connections[station_id] = self.connections.get(station_id, 0) + 1
        cp = _ServerSide(self, station_id, _RecordingConnection(ws, self, station_id))
        self.sessions[station_id] = cp
        self.websockets[station_id] = ws
        with contextlib.suppress(ConnectionClosed):
            await cp.start()

    def messages(self, station_id: str, action: str | None = None) -> list[dict[str, Any]]:
        """Payloads of the CALLs a station sent (of one action, when given)."""
        return [p for a, p in self.received.get(station_id, []) if action in (None, a)]

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL (camelCase payload) and return the answer as camelCase JSON."""
        request = getattr(call, action)(**camel_to_snake_case(payload))
        answer = await self.sessions[station_id].call(request, suppress=False)
        text = json.dumps(snake_to_camel_case(remove_nones(asdict(answer))), default=float)
        return json.loads(text)  # type: ignore[no-any-return]

    async def disconnect(self, station_id: str) -> None:
        """Close a station's websocket from the server side (the station reconnects)."""
        await self.websockets[station_id].close()

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        await eventually(predicate, within_s)


@pytest.fixture
async def sim_clock() -> AsyncIterator[SimClock]:
    clock = SimClock()
    yield clock
    await clock.close()


StationFactory = Callable[..., Awaitable[list[SimStation]]]


@pytest.fixture
async def sim_stations(sim_clock: SimClock) -> AsyncIterator[StationFactory]:
    started: list[SimStation] = []

    async def factory(
        count: int, url: str, *, prefix: str = "SIM-", boot: bool = True, **kwargs: Any
    ) -> list[SimStation]:
        kwargs.setdefault("clock", sim_clock)
        first = len(started) + 1
        stations = [
            SimStation(f"{prefix}{n:04d}", url, **kwargs) for n in range(first, first + count)
        ]
        started.extend(stations)
        for station in stations:
            await station.start()
        if boot:
            await asyncio.gather(*(s.wait_booted() for s in stations))
        return stations

    yield factory
    await asyncio.gather(*(s.stop() for s in started))


@dataclass
class SimulatedSystem:
    """A central system with one site: a simulated meter and simulated stations."""

    cs: CentralSystem
    site: SimSite
    meter: Any  # tests.support.fixtures_meter.SimulatedMeter
    settings: Settings

    @property
    def stations(self) -> list[SimStation]:
        return self.site.stations


SystemFactory = Callable[..., Awaitable[SimulatedSystem]]
