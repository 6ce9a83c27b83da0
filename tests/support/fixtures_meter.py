"""Pytest plugin: simulated grid meters on ephemeral ports (register with `pytest_plugins`).

Fixtures (`meter_sim`, one ready Socomec E27, is in tests/meter/conftest.py):
- `meter_sim_factory`: `await start(model=..., unit=..., household_a=..., pv_a=..., ...)` for any
  preset or a custom `RegisterMap`; every meter started is stopped after the test.

Both give a `SimulatedMeter` (host, port, unit, model, and `sim` — the handle to script the load:
`sim.set_household(...)`, `sim.set_pv(...)`, `await sim.outage()`, `await sim.restore()`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from csms.meter.config import MeterSettings
from csms.meter.registers import RegisterMap
from csms.sim.meter import EvCurrents, MeterSimulator
from csms.sim.meter_script import LoadScript, ScriptStep


@dataclass(frozen=True)
class SimulatedMeter:
    """A running simulated meter and how to reach it."""

    host: str
    port: int
    unit: int
    model: str
    sim: MeterSimulator

    def settings(self, **overrides: Any) -> MeterSettings:
        """`MeterSettings` (type `simulated`) pointing at this meter; preset models only."""
        data: dict[str, Any] = {
            "type": "simulated",
            "host": self.host,
            "port": self.port,
            "unit": self.unit,
            "model": self.model,
        }
        return MeterSettings.model_validate(data | overrides)


StartMeter = Callable[..., Awaitable[SimulatedMeter]]


@pytest.fixture
async def meter_sim_factory() -> AsyncIterator[StartMeter]:
    """Start simulated meters on 127.0.0.1 port 0; all are stopped after the test."""
    started: list[MeterSimulator] = []

    async def start(
        model: str | RegisterMap = "socomec-e27",
        unit: int | None = None,
        household_a: float | Sequence[float] = 0.0,
        pv_a: float | Sequence[float] = 0.0,
        steps: Sequence[ScriptStep] = (),
        ev_currents: EvCurrents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> SimulatedMeter:
        sim = MeterSimulator(
            model,
            unit=unit,
            load=LoadScript(household_a, pv_a, steps),
            ev_currents=ev_currents,
            clock=clock,
        )
        port = await sim.start("127.0.0.1", 0)
        started.append(sim)
        name = model if isinstance(model, str) else model.name
        return SimulatedMeter("127.0.0.1", port, sim.unit, name, sim)

    yield start
    for sim in started:
        await sim.stop()
