"""A site with Modbus-controlled stations for end-to-end tests: the central system in-process,
the simulated Modbus grid meter, simulated Alfen stations over websockets, each with its real
pymodbus slave. A station listed with `modbus=True` is controlled through its slave."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from csms.app import CentralSystem, running_central_system
from csms.charging.loop import SiteLoop
from csms.modbus.link import ModbusChannel
from csms.settings import Settings
from csms.sim.clock import SimClock
from csms.sim.configuration import FEATURE_ALB
from csms.sim.ev import SimEv
from csms.sim.meter import MeterSimulator
from csms.sim.meter_script import LoadScript
from csms.sim.modbus_slave import EMS_CONFIG, ModbusSlave
from csms.sim.site import SimSite
from csms.sim.station import SimStation
from tests.support.site_rig import STATION_CONFIG, safe_default_installed
from tests.support.waiting import eventually


@dataclass(frozen=True)
class Station:
    id: str
    modbus: bool = True
    sockets: int = 1
    config: dict[str, str] = field(default_factory=dict)
    licensed: bool = True


@dataclass
class ModbusRig:
    cs: CentralSystem
    meter: MeterSimulator | None
    sim: SimSite
    clock: SimClock
    slaves: dict[str, ModbusSlave]
    exit: contextlib.AsyncExitStack

    @property
    def loop(self) -> SiteLoop:
        return self.cs.charging.sites["site"]

    def channel(self, station_id: str) -> ModbusChannel:
        writer = self.loop.writer
        assert writer is not None
        return writer.channels[station_id]  # type: ignore[attr-defined,no-any-return]

    def station(self, station_id: str) -> SimStation:
        return self.sim.station(station_id)

    def grid(self) -> tuple[float, float, float]:
        assert self.meter is not None
        return self.meter.values().current_a

    async def plug_in(self, station_id: str, connector_id: int = 1, **ev: Any) -> int:
        station = self.station(station_id)
        station.plug_in(connector_id, SimEv(**({"max_current_a": 16.0} | ev)))
        return await station.wait_transaction(connector_id, within_s=30)

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.cs.api_url) as client:
            return await client.request(method, path, **kwargs)

    async def kill_central_system(self) -> None:
        await self.exit.aclose()


@contextlib.asynccontextmanager
async def modbus_rig(
    tmp_path: Path,
    stations: Sequence[Station],
    *,
    household_a: float = 2.0,
    site: dict[str, Any] | None = None,
    meter_settings: dict[str, Any] | None = None,
) -> AsyncIterator[ModbusRig]:
    """`meter_settings`: the site's meter (default: a simulated Modbus meter that sees the EVs)."""
    clock = SimClock(speed=1.0, tick_s=0.1)
    sim = SimSite(clock)
    meter: MeterSimulator | None = None
    if meter_settings is None:
        meter = MeterSimulator("socomec-e27", unit=5, load=LoadScript(household_a),
                               ev_currents=sim.grid_currents, clock=clock.now)  # fmt: skip
        port = await meter.start("127.0.0.1", 0)
        meter_settings = {"type": "simulated", "host": "127.0.0.1", "port": port, "unit": 5,
                          "poll_interval_s": 0.2, "timeout_s": 0.5}  # fmt: skip
    slaves: dict[str, ModbusSlave] = {}
    for spec in stations:
        station = SimStation(
            spec.id, "ws://127.0.0.1:9/ocpp", sockets=spec.sockets, clock=clock,
            config=STATION_CONFIG | (EMS_CONFIG if spec.licensed else {}) | spec.config,
            unlocked_features=FEATURE_ALB if spec.licensed else 0,
        )  # fmt: skip
        sim.add(station)
        if spec.modbus:
            slaves[spec.id] = ModbusSlave(station)
            await slaves[spec.id].start()
    entries = [
        {"id": s.id}
        | ({"control": "modbus", "modbus_host": "127.0.0.1", "modbus_port": slaves[s.id].port}
           if s.modbus else {})
        for s in stations
    ]  # fmt: skip
    site_settings = {
        "id": "site", "grid_limit_a": 25, "margin_a": 1, "safe_current_a": 12,
        "meter_timeout_s": 1.5, "meter_lost_s": 5, "ramp_a_per_s": 2.0,
        "meter": meter_settings, "stations": entries,
    } | (site or {})  # fmt: skip
    settings = Settings.model_validate({
        "database_url": f"sqlite:///{tmp_path}/csms.sqlite3", "ocpp_host": "127.0.0.1",
        "ocpp_port": 0, "api_port": 0, "unknown_stations": "accept", "response_timeout_s": 5,
        "sites": [site_settings],
        "charging": {"profile_validity_s": 30, "control_interval_s": 0.2,
                     "min_rewrite_interval_s": 1.0},
    })  # fmt: skip
    try:
        exit_stack = contextlib.AsyncExitStack()
        async with exit_stack:
            cs = await exit_stack.enter_async_context(
                running_central_system(settings, clock=clock.now)
            )
            for station in sim.stations:
                station.url = f"{cs.ocpp_url}/{station.station_id}"
            rig = ModbusRig(cs, meter, sim, clock, slaves, exit_stack)
            await sim.start()
            await sim.wait_booted(30)
            ocpp = [s.id for s in stations if not s.modbus]
            await eventually(lambda: all(safe_default_installed(rig.loop, i) for i in ocpp), 30)
            await eventually(lambda: all(rig.channel(i).modbus.connected for i in slaves), 30)
            try:
                yield rig
            finally:
                await sim.stop()
    finally:
        for slave in slaves.values():
            await slave.stop()
        if meter is not None:
            await meter.stop()
        await clock.close()
