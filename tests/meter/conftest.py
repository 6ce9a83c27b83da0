"""Fixtures of the meter tests: one ready simulated meter."""

from __future__ import annotations

import pytest

from tests.support.fixtures_meter import SimulatedMeter, StartMeter


@pytest.fixture
async def meter_sim(meter_sim_factory: StartMeter) -> SimulatedMeter:
    """A Socomec Countis E27 (unit 5) with household load 10/8/12 A and no PV."""
    return await meter_sim_factory("socomec-e27", household_a=(10.0, 8.0, 12.0))
