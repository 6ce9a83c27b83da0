"""The naive reference: an `ocpp` library example-style central system, no storage.

Run by `benchmarks/ocpp_throughput.py`; prints its port on the first line of stdout.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result


class ReferenceCentralSystem(ChargePoint):  # type: ignore[misc]
    @on("BootNotification")
    async def on_boot(self, **_: object) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(), interval=300, status="Accepted"
        )

    @on("MeterValues")
    async def on_meter_values(self, **_: object) -> call_result.MeterValues:
        return call_result.MeterValues()


async def on_connect(ws: websockets.ServerConnection) -> None:
    station_id = ws.request.path.strip("/").split("/")[-1]
    await ReferenceCentralSystem(station_id, ws).start()


async def main() -> None:
    async with websockets.serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
