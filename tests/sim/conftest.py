"""Fixtures of the simulator's own tests: a tiny central system, a site, a whole simulated site.

- `mini_cs`: a `MiniCentralSystem` (the `ocpp` library in server role) that records every CALL.
- `sim_site`: a `SimSite` whose stations are stopped after the test.
- `simulated_site_factory`: a central system with one site, a simulated meter and stations.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from csms.app import running_central_system
from csms.settings import Settings
from csms.sim.clock import SimClock
from csms.sim.site import RECOMMENDED_ROTATIONS, SimSite
from tests.support.fixtures_sim import MiniCentralSystem, SimulatedSystem, SystemFactory


@pytest.fixture
async def mini_cs() -> AsyncIterator[MiniCentralSystem]:
    cs = MiniCentralSystem()
    await cs.start()
    yield cs
    await cs.stop()


@pytest.fixture
async def sim_site(sim_clock: SimClock) -> AsyncIterator[SimSite]:
    site = SimSite(clock=sim_clock)
    yield site
    await site.stop()


@pytest.fixture
async def simulated_site_factory(
    meter_sim_factory: Any, sim_clock: SimClock, tmp_path: Any
) -> AsyncIterator[SystemFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            count: int = 2,
            *,
            sockets: int = 2,
            site_id: str = "home",
            prefix: str = "ALF-",
            rotations: Sequence[str] = RECOMMENDED_ROTATIONS,
            meter_model: str = "socomec-e27",
            household_a: float | Sequence[float] = 0.0,
            pv_a: float | Sequence[float] = 0.0,
            meter_includes_ev: bool = True,
            site: dict[str, Any] | None = None,
            settings: dict[str, Any] | None = None,
            **station_kwargs: Any,
        ) -> SimulatedSystem:
            sim_site = SimSite(sim_clock)
            meter = await meter_sim_factory(
                meter_model,
                household_a=household_a,
                pv_a=pv_a,
                ev_currents=sim_site.grid_currents if meter_includes_ev else None,
                clock=sim_clock.now,
            )
            ids = [f"{prefix}{n:04d}" for n in range(1, count + 1)]
            site_settings = {
                "id": site_id,
                "meter_includes_ev": meter_includes_ev,
                "meter": meter.settings(poll_interval_s=0.2).model_dump(),
                "stations": [
                    {"id": sid, "phase_rotation": rotations[i % len(rotations)]}
                    for i, sid in enumerate(ids)
                ],
                **(site or {}),
            }
            values: dict[str, Any] = {
                "database_url": f"sqlite:///{tmp_path}/csms-sim.sqlite3",
                "ocpp_host": "127.0.0.1",
                "ocpp_port": 0,
                "api_port": 0,
                "unknown_stations": "accept",
                "response_timeout_s": 10,
                "sites": [site_settings],
                **(settings or {}),
            }
            config = Settings.model_validate(values)
            # The central system shares the simulated clock, so profile times agree with the
            # stations' even when a test jumps ahead or runs faster than real time.
            cs = await stack.enter_async_context(running_central_system(config, sim_clock.now))
            sim_site.create(
                count, cs.ocpp_url, prefix=prefix, sockets=sockets, rotations=rotations,
                **station_kwargs,
            )  # fmt: skip
            stack.push_async_callback(sim_site.stop)  # stations stop before the server
            await sim_site.start()
            await sim_site.wait_booted()
            return SimulatedSystem(cs, sim_site, meter, config)

        yield start
