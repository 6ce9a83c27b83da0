"""A group of simulated stations behind one grid connection.

`SimSite.grid_currents` sums the EVs' grid-phase currents over all its stations; pass it to the
meter simulator (`MeterSimulator(ev_currents=site.grid_currents)`) when the site's meter includes
the EVs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from csms.sim.clock import SimClock
from csms.sim.phases import Triple, add
from csms.sim.station import SimStation

# Alfen's recommended feeder sequence for several 3-phase stations (guide 3.1.1 / 6.1.3).
RECOMMENDED_ROTATIONS = ("L1L2L3", "L3L1L2", "L2L3L1")


class SimSite:
    """Simulated stations sharing one clock; started, stopped and summed together."""

    def __init__(self, clock: SimClock | None = None) -> None:
        self.clock = clock or SimClock()
        self.stations: list[SimStation] = []

    def add(self, station: SimStation) -> SimStation:
        if station.clock is not self.clock:
            raise ValueError("a site's stations must share the site's clock")
        self.stations.append(station)
        return station

    def create(
        self,
        count: int,
        url: str,
        *,
        prefix: str = "ALF-",
        first: int = 1,
        sockets: int = 1,
        rotations: Iterable[str] = RECOMMENDED_ROTATIONS,
        **kwargs: Any,
    ) -> list[SimStation]:
        """Add `count` stations `{prefix}{n:04d}`; feeders follow `rotations` in turn."""
        cycle = list(rotations) or ["L1L2L3"]
        created = []
        for index in range(count):
            station = SimStation(
                f"{prefix}{first + index:04d}",
                url,
                sockets=sockets,
                phase_connected=cycle[index % len(cycle)],
                clock=self.clock,
                **kwargs,
            )
            created.append(self.add(station))
        return created

    def station(self, station_id: str) -> SimStation:
        for station in self.stations:
            if station.station_id == station_id:
                return station
        raise KeyError(station_id)

    async def start(self) -> None:
        for station in self.stations:
            await station.start()

    async def wait_booted(self, within_s: float = 30.0) -> None:
        await asyncio.gather(*(s.wait_booted(within_s) for s in self.stations))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.stations))

    def grid_currents(self) -> Triple:
        """Sum of all EVs' currents per grid phase (L1, L2, L3)."""
        total: Triple = (0.0, 0.0, 0.0)
        for station in self.stations:
            total = add(total, station.grid_currents())
        return total
