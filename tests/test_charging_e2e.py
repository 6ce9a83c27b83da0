"""Smart charging end to end: real websockets, the pymodbus meter simulator, simulated stations.

Assertions are on eventual states with generous bounds; reaction times are printed here and
measured properly in `benchmarks/control_latency.py`.
"""

from __future__ import annotations

import asyncio
import time

from tests.charging_support import StationSpec, eventually, site_rig

GRID = 25.0
A, B = "ALF-0001", "ALF-0002"


def within(rig, limit: float = GRID) -> bool:
    return all(c <= limit + 0.05 for c in rig.grid())


def applied(rig, *ids: str) -> list[float]:
    return [rig.station(s).applied_current(1) for s in ids]


async def test_household_step_lowers_every_socket_then_raises_gradually(tmp_path):
    stations = [StationSpec(A), StationSpec(B, rotation="L3L1L2")]
    async with site_rig(tmp_path, stations, household_a=2.0) as rig:
        await rig.plug_in(A)
        await rig.plug_in(B)
        # 25 A − 1 A margin − 2 A household = 22 A: about 11 A each (deadband 1 A).
        await eventually(lambda: all(a >= 9.5 for a in applied(rig, A, B)))
        before = applied(rig, A, B)

        rig.meter.set_household(14.0)  # 10 A left: not 6 A for both, so one pauses
        stepped = time.monotonic()
        await eventually(lambda: within(rig, GRID - 1) and all(
            a < b for a, b in zip(applied(rig, A, B), before, strict=True)))  # fmt: skip
        print(f"\nreaction to a household step: {time.monotonic() - stepped:.2f} s")
        for _ in range(30):  # and it stays within the grid limit afterwards
            assert within(rig), rig.grid()
            await asyncio.sleep(0.05)

        count = len(rig.results)
        rig.meter.set_household(2.0)
        await eventually(lambda: sum(applied(rig, A, B)) >= 19)
        raised = [
            c.limit_a
            for _, c, status, _ in rig.results[count:]
            if status == "Accepted" and c.kind == "increase"
        ]
        # Gradually: several increases, none jumping straight from a pause to the final value.
        assert len(raised) >= 3, raised
        assert min(raised) < 9, raised
