"""A whole simulated site for smart-charging tests: central system + Modbus meter + stations.

Real parts only: the central system in-process on ephemeral ports, the pymodbus meter simulator
(its reading includes the EVs' grid currents) and simulated Alfen stations over websockets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from csms.app import CentralSystem, running_central_system
from csms.charging.loop import SiteLoop
from csms.charging.planner import Command
from csms.charging.profiles import TX_DEFAULT_PROFILE
from csms.settings import Settings
from csms.sim.clock import SimClock
from csms.sim.ev import SimEv
from csms.sim.meter import MeterSimulator
from csms.sim.meter_script import LoadScript
from csms.sim.site import SimSite
from csms.sim.station import SimStation
from tests.support.waiting import eventually

# No probing cap in tests (Chameleon-MinCurrent at the socket maximum) and a sample every second.
STATION_CONFIG = {"MeterValueSampleInterval": "1", "Chameleon-MinCurrent": "32.0"}


@dataclass(frozen=True)
class StationSpec:
    id: str
    sockets: int = 1
    rotation: str = "L1L2L3"
    config: dict[str, str] = field(default_factory=dict)
    reject_tx_profile: bool = False
    unlocked_features: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # more SimStation keyword arguments


@dataclass
class SiteRig:
    """Everything running for one test."""

    cs: CentralSystem
    meter: MeterSimulator
    sim: SimSite
    clock: SimClock
    settings: Settings
    results: list[tuple[str, Command, str, float]] = field(default_factory=list)
    _cs_exit: contextlib.AsyncExitStack | None = None

    async def kill_central_system(self) -> None:
        """Stop the central system; the stations and the meter keep running."""
        assert self._cs_exit is not None
        await self._cs_exit.aclose()

    @property
    def loop(self) -> SiteLoop:
        return self.cs.charging.sites["site"]

    def station(self, station_id: str) -> SimStation:
        return self.sim.station(station_id)

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.cs.api_url) as client:
            response = await client.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def accepted_limits(self, station_id: str, connector_id: int) -> list[float]:
        """Limits of the TxProfiles/TxDefaultProfiles the station accepted, in order."""
        return [
            c.limit_a
            for _, c, status, _ in self.results
            if status == "Accepted"
            and c.station_id == station_id
            and c.connector_id == connector_id
            and c.limit_a is not None
        ]

    def grid(self) -> tuple[float, float, float]:
        return self.meter.values().current_a

    async def plug_in(self, station_id: str, connector_id: int = 1, **ev: Any) -> int:
        station = self.station(station_id)
        station.plug_in(connector_id, SimEv(**({"max_current_a": 16.0} | ev)))
        return await station.wait_transaction(connector_id, within_s=20)


def safe_default_installed(loop: SiteLoop, station_id: str) -> bool:
    """Whether the station accepted our safe TxDefaultProfile on connector 0 (a station of
    another site counts as done)."""
    if station_id not in loop.model.station_ids:
        return True
    slot = loop.planner.station(station_id).slots.get((0, TX_DEFAULT_PROFILE))
    return slot is not None and slot.installed is not None


async def api_until(
    rig: SiteRig, path: str, predicate: Callable[[Any], bool], within_s: float = 30.0
) -> Any:
    """GET `path` from the API until `predicate(body)` holds; that body."""
    async with asyncio.timeout(within_s):
        while True:
            body = await rig.api("GET", path)
            if predicate(body):
                return body
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def site_rig(
    tmp_path: Path,
    stations: Sequence[StationSpec],
    *,
    household_a: float | Sequence[float] = 2.0,
    poll_interval_s: float = 0.2,
    site: dict[str, Any] | None = None,
    charging: dict[str, Any] | None = None,
    database_url: str | None = None,
    meter_sees_ev: bool = True,
) -> AsyncIterator[SiteRig]:
    """Start meter, central system and booted stations; stop them all afterwards.

    `meter_sees_ev=False`: the meter measures the household only (wired before the chargers).
    """
    clock = SimClock(speed=1.0, tick_s=0.1)
    sim = SimSite(clock)
    meter = MeterSimulator(
        "socomec-e27", unit=5, load=LoadScript(household_a),
        ev_currents=sim.grid_currents if meter_sees_ev else None, clock=clock.now,
    )  # fmt: skip
    port = await meter.start("127.0.0.1", 0)
    site_settings = {
        "id": "site",
        "grid_limit_a": 25,
        "margin_a": 1,
        "safe_current_a": 12,
        "meter_timeout_s": 1.5,
        "meter_lost_s": 5,
        "ramp_a_per_s": 2.0,
        "meter": {
            "type": "simulated",
            "host": "127.0.0.1",
            "port": port,
            "unit": 5,
            "poll_interval_s": poll_interval_s,
            "timeout_s": 0.5,
        },
        "stations": [{"id": s.id, "phase_rotation": s.rotation} for s in stations],
    } | (site or {})
    settings = Settings.model_validate(
        {
            "database_url": database_url or f"sqlite:///{tmp_path}/csms.sqlite3",
            "ocpp_host": "127.0.0.1",
            "ocpp_port": 0,
            "api_port": 0,
            "unknown_stations": "accept",
            "response_timeout_s": 5,
            "sites": [site_settings],
            # Rewrites bounded to one a second per connector: the tests see ramps in seconds.
            "charging": {
                "profile_validity_s": 30,
                "control_interval_s": 0.2,
                "min_rewrite_interval_s": 1.0,
            }
            | (charging or {}),
        }
    )
    try:
        async with contextlib.AsyncExitStack() as cs_exit:
            cs = await cs_exit.enter_async_context(
                running_central_system(settings, clock=clock.now)
            )
            rig = SiteRig(cs, meter, sim, clock, settings, _cs_exit=cs_exit)
            cs.charging.add_result_hook(lambda *r: rig.results.append(r))
            for spec in stations:
                sim.add(
                    SimStation(
                        spec.id,
                        cs.ocpp_url,
                        sockets=spec.sockets,
                        phase_connected=spec.rotation,
                        clock=clock,
                        config=STATION_CONFIG | spec.config,
                        reject_tx_profile=spec.reject_tx_profile,
                        unlocked_features=spec.unlocked_features,
                        **spec.options,
                    )
                )
            await sim.start()
            await sim.wait_booted(20)
            # Profiles follow the configuration snapshot after each boot: start once every
            # station has its safe default.
            loops = list(cs.charging.sites.values())
            await eventually(lambda: all(safe_default_installed(lp, s.id) for lp in loops
                                         for s in stations), 30)  # fmt: skip
            try:
                yield rig
            finally:
                await sim.stop()
    finally:
        await meter.stop()
        await clock.close()
