"""The seed's set-up end to end (acceptance 4): PV-surplus mode, a DSMR P1 meter read through
DSMR-reader on the real Mosquitto broker, one station controlled over its Modbus slave."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from tests.meter.test_mqtt import BROKER, require_broker
from tests.modbus.rig import ModbusRig, Station, modbus_rig
from tests.support.waiting import eventually

pytestmark = pytest.mark.mqtt

VOLTAGE_V = 230.0
DWELL_S = 8.0


class Grid:
    """The P1 meter: household minus PV plus the EV's draw, published like DSMR-reader."""

    def __init__(self, household_a: float) -> None:
        self.household_a = household_a
        self.pv_a = 0.0
        self.rig: ModbusRig | None = None

    def currents(self) -> tuple[float, float, float]:
        ev = (0.0, 0.0, 0.0) if self.rig is None else self.rig.sim.grid_currents()
        a, b, c = (self.household_a - self.pv_a + e for e in ev)
        return (a, b, c)

    def payload(self) -> str:
        out: dict[str, float] = {}
        for n, amps in enumerate(self.currents(), start=1):
            kw = abs(amps) * VOLTAGE_V / 1000
            out[f"phase_power_current_l{n}"] = round(abs(amps), 2)
            out[f"phase_currently_delivered_l{n}"] = round(kw if amps > 0 else 0.0, 3)
            out[f"phase_currently_returned_l{n}"] = round(kw if amps < 0 else 0.0, 3)
            out[f"phase_voltage_l{n}"] = VOLTAGE_V
        return json.dumps(out)

    async def publish(self, prefix: str) -> None:
        async with aiomqtt.Client(*BROKER, identifier=f"p1-{uuid.uuid4().hex[:8]}") as client:
            while True:
                await client.publish(f"{prefix}/json", self.payload())
                await asyncio.sleep(0.3)


class Trace:
    """What the test saw, one line per change (what was written to the slave, what the EV draws,
    how the balancer counts it), printed when a step does not come: a failure explains itself."""

    def __init__(self, rig: ModbusRig, grid: Grid) -> None:
        self.rig, self.grid, self.t0 = rig, grid, rig.clock.now()
        self.lines: list[str] = []
        self._last: tuple[object, ...] = ()

    def look(self) -> None:
        rig = self.rig
        ems, station = rig.slaves["MB-1"].ems, rig.station("MB-1")
        st = rig.loop.state.sockets.get(("MB-1", 1))
        seen = (
            self.grid.pv_a, ems.setpoint(1), ems.phases(1), round(station.ev_current(1), 1),
            station.connector(1).ev_phases, None if st is None else st.ev_phases,
            st is not None and st.pv_on,
            None if st is None or st.pv_since is None else round(st.pv_since - self.t0, 1),
        )  # fmt: skip
        if seen != self._last:
            self._last = seen
            grid = ", ".join(f"{a:.1f}" for a in self.grid.currents())
            self.lines.append(
                f"{rig.clock.now() - self.t0:6.1f}s pv {seen[0]} A | 1210 {seen[1]} A, 1215 "
                f"{seen[2]} | EV {seen[3]} A on {seen[4]} | counted on {seen[5]}, pv_on "
                f"{seen[6]}, pv_since {seen[7]} s | grid {grid}"
            )

    def __str__(self) -> str:
        switches = self.rig.channel("MB-1").phase_switches
        return "\n".join([*self.lines, f"phase switches (at, socket, phases): {switches}"])

    async def until(self, what: str, predicate: Callable[[], bool], within_s: float) -> None:
        try:
            await eventually(predicate, within_s)
        except TimeoutError:
            raise AssertionError(f"not within {within_s} s: {what}; seen:\n{self}") from None


async def test_the_ev_follows_export_and_switches_phases_at_18_a(tmp_path: Path) -> None:
    await require_broker()
    prefix = f"csms-test-{uuid.uuid4().hex[:10]}/dsmr"
    grid = Grid(household_a=1.0)
    publisher = asyncio.create_task(grid.publish(prefix))
    meter = {"type": "dsmr-mqtt", "host": BROKER[0], "port": BROKER[1], "topic_prefix": prefix,
             "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}  # fmt: skip
    site = {
        "mode": "pv-surplus",
        "ramp_a_per_s": 5.0,
        "pv_surplus": {"start_hold_s": 2, "stop_delay_s": 4, "phase_switch_dwell_s": DWELL_S},
    }
    try:
        async with modbus_rig(tmp_path, [Station("MB-1")], site=site,
                              meter_settings=meter) as rig:  # fmt: skip
            grid.rig = rig
            trace = Trace(rig, grid)
            station, slave, channel = rig.station("MB-1"), rig.slaves["MB-1"], rig.channel("MB-1")
            await rig.plug_in("MB-1", max_current_a=16.0, phases=3)
            # No export: the EV waits (0 A) — PV surplus only.
            # (until the first write the station applies its safe current, as a real one does)
            await trace.until("the EV waits", lambda: station.ev_current(1) == 0.0, 60)
            starts = stops = 0
            was_on = False

            def count() -> bool:
                nonlocal starts, stops, was_on
                on = station.ev_current(1) > 0
                starts += on and not was_on
                stops += was_on and not on
                was_on = on
                return True

            async def watch() -> None:
                while True:
                    count()
                    trace.look()
                    await asyncio.sleep(0.05)

            def charging_on(phases: int, at_least_a: float = 6.0, at_most_a: float = 32.0) -> bool:
                """The EV draws on `phases` phases what 1210 gives it, at least `at_least_a` and at
                most `at_most_a`, and the balancer counts it on them with no stop pending."""
                state = rig.loop.state.sockets.get(("MB-1", 1))
                setpoint = slave.ems.setpoint(1)
                return (
                    state is not None
                    and state.ev_phases == tuple(range(1, phases + 1))
                    and state.pv_on
                    and state.pv_since is None
                    and setpoint is not None
                    and at_least_a <= setpoint <= at_most_a
                    and station.connector(1).ev_phases == phases
                    and station.ev_current(1) >= 6.0
                )

            watcher = asyncio.create_task(watch())
            try:
                # No surplus: below the 3-phase minimum (18 A summed), the socket goes to 1 phase.
                await trace.until("1 phase", lambda: slave.ems.phases(1) == 1, 60)
                # 11 A export per phase (30 A summed above the household): the EV starts and,
                # once the dwell time has passed, charges on 3 phases.
                grid.pv_a = 11.0
                await trace.until("the EV starts", lambda: station.ev_current(1) >= 6.0, 90)
                await trace.until("3 phases", lambda: slave.ems.phases(1) == 3, 90)
                await trace.until("charging on 3 phases", lambda: charging_on(3), 90)
                # (the surplus falls once the dwell is over, so the switch back follows at once)
                dwell_over = channel.phase_switches[-1][0] + DWELL_S
                await trace.until("the dwell is over", lambda: rig.clock.now() >= dwell_over, 30)
                # The surplus falls below 18 A summed (12 A: 5 A PV per phase less the 1 A
                # household, times three): back to 1 phase, where the EV goes on charging from
                # it at once — not counted on three phases until measured on one, and stopped.
                grid.pv_a = 5.0
                await trace.until("back to 1 phase", lambda: slave.ems.phases(1) == 1, 90)
                await trace.until(
                    "charging on 1 phase at 10 A or more",
                    lambda: charging_on(1, at_least_a=10.0),
                    90,
                )
                # 9 A summed (4 A PV per phase): still on one phase, at 9 A.
                grid.pv_a = 4.0
                await trace.until("9 A on 1 phase", lambda: charging_on(1, at_most_a=9.5), 90)
                # The export ends: the EV stops (after the stop delay).
                grid.pv_a = 0.0
                await trace.until("the EV stops", lambda: station.ev_current(1) == 0.0, 90)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                count()  # the stop just seen, had the watcher not caught it yet
            switches = channel.phase_switches
            assert [p for _, _, p in switches] == [1, 3, 1], trace
            gaps = [b[0] - a[0] for a, b in itertools.pairwise(switches)]
            assert all(gap >= DWELL_S for gap in gaps), (gaps, str(trace))
            # One start on the export and one stop at its end (the hold and delay times keep
            # the EV from cycling through the phase switches).
            assert (starts, stops) == (1, 1), ((starts, stops), str(trace))
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
