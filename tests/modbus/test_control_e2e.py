"""End to end: the central system controls a station through its Modbus slave (acceptance 2)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.modbus.rig import Station, modbus_rig
from tests.support.waiting import eventually

GRID_CEILING_A = 25.0


async def test_a_household_step_moves_1210_and_1206_follows(tmp_path: Path) -> None:
    async with modbus_rig(tmp_path, [Station("MB-1")], household_a=2.0) as rig:
        slave = rig.slaves["MB-1"]
        await rig.plug_in("MB-1")
        # 25 A fuse, 1 A margin, 2 A household: the EV gets its 16 A through register 1210.
        await eventually(lambda: (slave.ems.setpoint(1) or 0) >= 16.0, within_s=60)
        await eventually(lambda: rig.station("MB-1").ev_current(1) == 16.0, within_s=60)
        assert rig.station("MB-1").profiles == ()  # no OCPP profile went to this station
        started = time.monotonic()
        rig.meter.set_household(15.0)
        await eventually(lambda: (slave.ems.setpoint(1) or 99) <= 9.0, within_s=60)
        # Figure only (speed belongs in benchmarks): household step → 1210 written.
        print(f"household step → 1210 rewritten after {time.monotonic() - started:.2f} s")
        reading = rig.channel("MB-1").readings
        await eventually(
            lambda: (
                (r := rig.channel("MB-1").readings.get(1)) is not None
                and r.applied_a is not None
                and r.applied_a <= 9.0
            ),
            within_s=60,
        )
        assert reading
        assert rig.loop.last is not None
        limit = rig.loop.last.limits[("MB-1", 1)]
        assert limit.source  # the binding source still names the limit
        # The method is proven by the read-back and stored like an OCPP method.
        await eventually(lambda: rig.loop._methods.get("MB-1") == "modbus", within_s=30)
        stored = await rig.cs.charging.store.methods()
        assert stored.get("MB-1") == "modbus"
        # Modbus currents feed the EV estimate.
        state = rig.loop.model.connectors[("MB-1", 1)]
        assert state.measured_grid_a is not None and max(state.measured_grid_a) > 0


async def test_the_station_falls_back_to_its_safe_current_when_we_stop(tmp_path: Path) -> None:
    config = {"MbsSlaveTCPIPValidityTime": "3", "Safe-MaxCurrent": "8.0"}
    async with modbus_rig(tmp_path, [Station("MB-1", config=config)], household_a=2.0) as rig:
        slave = rig.slaves["MB-1"]
        station = rig.station("MB-1")
        await rig.plug_in("MB-1")
        await eventually(lambda: station.ev_current(1) == 16.0, within_s=60)
        await rig.kill_central_system()
        # Nobody writes 1210 any more: when the validity runs out the socket takes 8 A.
        await eventually(lambda: not slave.ems.accounted(1, rig.clock.now()), within_s=60)
        await eventually(lambda: station.ev_current(1) == 8.0, within_s=60)


async def test_a_mixed_site_keeps_the_grid_within_its_limit(tmp_path: Path) -> None:
    stations = [Station("OCPP-1", modbus=False), Station("MB-1")]
    async with modbus_rig(tmp_path, stations, household_a=8.0) as rig:
        await rig.plug_in("OCPP-1")
        await rig.plug_in("MB-1")
        # 25 A − 1 A margin − 8 A household leaves 16 A for two EVs that want 16 A each.
        await eventually(
            lambda: (
                rig.station("OCPP-1").ev_current(1) > 0
                and rig.station("MB-1").ev_current(1) > 0
                and max(rig.grid()) <= GRID_CEILING_A
            ),
            within_s=90,
        )
        # Several control steps later the grid is still within the limit.
        steps = rig.loop.steps
        await eventually(lambda: rig.loop.steps >= steps + 10, within_s=60)
        assert max(rig.grid()) <= GRID_CEILING_A
        assert rig.slaves["MB-1"].ems.setpoint(1) is not None
        assert rig.station("MB-1").profiles == ()
        assert rig.station("OCPP-1").profiles != ()
