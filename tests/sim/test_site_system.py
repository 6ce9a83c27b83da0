"""The `simulated_site_factory` fixture: meter + central system + simulated stations together."""

from __future__ import annotations

import pytest

from csms.sim.ev import SimEv
from tests.support.fixtures_sim import eventually


async def test_stations_and_meter_run_against_the_in_process_server(
    simulated_site_factory, sim_clock
) -> None:
    system = await simulated_site_factory(2, sockets=2, household_a=(10.0, 8.0, 12.0), pv_a=3.0)
    assert sorted(system.cs.registry.online_ids()) == ["ALF-0001", "ALF-0002"]
    first, second = system.stations
    assert (first.config.value("Phase-Connected"), second.config.value("Phase-Connected")) == (
        "L1L2L3",
        "L3L1L2",
    )
    first.plug_in(1, SimEv(max_current_a=10, phases=1))  # socket 1 rotated: grid L3
    second.plug_in(2, SimEv(max_current_a=6, phases=3))
    await first.wait_transaction(1)
    await second.wait_transaction(2)
    sim_clock.advance(60)
    sim_clock.tick_now()
    await eventually(lambda: sum(system.site.grid_currents()) > 0)
    ev = system.site.grid_currents()
    reading = system.meter.sim.values().current_a
    # The meter shows household − PV + the EVs (whatever limits the central system applied).
    assert reading == pytest.approx((7.0 + ev[0], 5.0 + ev[1], 9.0 + ev[2]))
    assert ev[2] >= ev[0] + 6 or first.applied_current(1) < 10  # the 1-phase EV loads L3
