"""`csms simulate` agrees with the real-I/O demo on the same window."""

from __future__ import annotations

import pytest

from csms.demo import DemoOptions, run_demo
from csms.simulate.engine import Simulation
from csms.simulate.scenario import load_scenario
from tests.simulate.scenarios import EXAMPLE


async def test_simulation_agrees_with_the_demo_on_the_same_window():
    """The demo (real websockets, Modbus, database) at a low speed and `csms simulate` over the
    same 15 minutes of the evening peak deliver the same energy per EV.

    The demo's stations boot in simulated time before its first EV plugs in (a real second or
    more, depending on the machine's load), so the simulation starts when the demo's EVs were
    plugged in. Tolerance: one minute of the site's usable power, for what the simulation leaves
    out: every change in the demo crosses real sockets (a few simulated seconds each at 30×).
    """
    options = DemoOptions(start_s=18 * 3600, duration_s=15 * 60, speed=30)
    summary = await run_demo(options)
    demo = {ev.name: ev.energy_kwh for ev in summary.evs}
    plugged = [ev.plugged_in_s for ev in summary.evs if ev.plugged_in_s is not None]
    assert len(plugged) == 2 and max(plugged) - min(plugged) < 60  # together, at the first sample
    start_s = min(plugged)
    end_s = options.start_s + summary.simulated_s
    scenario = load_scenario(EXAMPLE / "site.toml", EXAMPLE / "load.csv", EXAMPLE / "sessions.csv")
    settings = options.settings(502, "sqlite://")  # the demo's site: its poll, validity, timeouts
    result = Simulation(
        scenario,
        start_s=start_s,
        duration_s=end_s - start_s,
        site=settings.sites[0],
        charging=settings.charging,
        sample_interval_s=options.sample_interval_s,  # as the demo's stations sample
    ).run()
    simulated = {ev.visit.name: ev.energy_kwh for ev in result.evs}
    assert set(simulated) == set(demo) == {"Model 3", "Zoe"}
    # The two EVs share the usable 24 A per phase: one minute of that is 0.28 kWh.
    one_minute_kwh = 24 * 3 * 230 / 1000 / 60
    for name, kwh in simulated.items():
        assert demo[name] == pytest.approx(kwh, abs=one_minute_kwh), (demo, simulated)
        assert kwh > 3 * one_minute_kwh  # they really charged
    assert summary.seconds_above_beyond_reaction == result.tally.beyond_reaction_s == 0
