"""Fixtures for the Modbus slave tests: a simulated Alfen station with its Modbus slave."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from csms.sim.clock import SimClock
from csms.sim.configuration import FEATURE_ALB
from csms.sim.modbus_slave import EMS_CONFIG, ModbusSlave
from csms.sim.station import SimStation

SlaveFactory = Callable[..., Awaitable[ModbusSlave]]


@pytest.fixture
async def make_slave() -> AsyncIterator[SlaveFactory]:
    """`await make_slave(sockets=2, config=…, licensed=True, **slave_kwargs)`: an offline station
    (no OCPP connection) in EMS mode with its Modbus slave on an ephemeral port."""
    slaves: list[ModbusSlave] = []

    async def make(
        sockets: int = 2,
        config: dict[str, str] | None = None,
        licensed: bool = True,
        station_id: str = "ALF-0001",
        **kwargs: Any,
    ) -> ModbusSlave:
        station = SimStation(
            station_id,
            "ws://127.0.0.1:9/ocpp",
            sockets=sockets,
            clock=SimClock(),
            unlocked_features=FEATURE_ALB if licensed else 0,
            config={**EMS_CONFIG, **(config or {})} if licensed else config,
        )
        slave = ModbusSlave(station, **kwargs)
        await slave.start()
        slaves.append(slave)
        return slave

    yield make
    for slave in slaves:
        await slave.stop()
