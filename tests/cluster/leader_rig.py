"""A site, its simulated meter and stations, and central systems on one PostgreSQL schema in this
process: what the in-process leader, take-over and split tests share."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from csms.app import CentralSystem, running_central_system
from csms.cluster.fencing import profile_epoch
from csms.settings import Settings
from csms.sim.clock import SimClock
from csms.sim.meter import MeterSimulator
from csms.sim.meter_script import LoadScript
from csms.sim.site import SimSite
from csms.sim.station import SimStation
from tests.support.databases import POSTGRES_URL
from tests.support.site_rig import STATION_CONFIG

SITE = "site"


class TimedFrames(list[tuple[str, str]]):
    """A station's frame record that also notes when each frame came (local monotonic
    clock, the clock the leases' local view runs on) and over which node's link."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node
        self.times: list[float] = []

    def append(self, frame: tuple[str, str]) -> None:
        self.times.append(time.monotonic())
        super().append(frame)


@dataclass(frozen=True)
class Received:
    """A SetChargingProfile as the station received it."""

    at: float
    node: str
    profile_id: int
    epoch: int
    limit: float | None


def profiles_received(records: list[TimedFrames]) -> list[Received]:
    out = []
    for frames in records:
        for (direction, text), at in zip(frames, frames.times, strict=True):
            message = json.loads(text)
            if direction != "in" or message[0] != 2 or message[2] != "SetChargingProfile":
                continue
            profile = message[3]["csChargingProfiles"]
            periods = profile["chargingSchedule"]["chargingSchedulePeriod"]
            pid = int(profile["chargingProfileId"])
            limit = float(periods[0]["limit"]) if periods else None
            out.append(Received(at, frames.node, pid, profile_epoch(pid), limit))
    return sorted(out, key=lambda r: r.at)


def site_settings(
    database_url: str, meter_port: int, stations: list[str], **cluster: Any
) -> Settings:
    site = {
        "id": SITE,
        "grid_limit_a": 25,
        "margin_a": 1,
        "safe_current_a": 12,
        "meter_timeout_s": 1.5,
        "meter_lost_s": 5,
        "ramp_a_per_s": 50.0,
        "meter": {
            "type": "simulated",
            "host": "127.0.0.1",
            "port": meter_port,
            "unit": 5,
            "poll_interval_s": 0.2,
            "timeout_s": 0.5,
        },
        "stations": [{"id": s} for s in stations],
    }
    return Settings.model_validate(
        {
            "database_url": database_url,
            "ocpp_host": "127.0.0.1",
            "ocpp_port": 0,
            "api_port": 0,
            "unknown_stations": "accept",
            "response_timeout_s": 5,
            "sites": [site],
            "charging": {
                "profile_validity_s": 30,
                "control_interval_s": 0.2,
                "min_rewrite_interval_s": 1.0,
            },
            "cluster": {"enabled": True, "node_lease_s": 2} | cluster,
        }
    )


@dataclass
class SiteWorld:
    """The simulated outside world: one meter that sees the EVs, stations on a sim clock."""

    clock: SimClock
    sim: SimSite
    meter: MeterSimulator
    port: int
    stations: dict[str, SimStation] = field(default_factory=dict)

    def station(self, station_id: str, url: str, node: str) -> SimStation:
        station = SimStation(
            station_id, url, clock=self.clock, config=dict(STATION_CONFIG), record_frames=True
        )
        station.frames = TimedFrames(node)
        self.sim.add(station)
        self.stations[station_id] = station
        return station


@contextlib.asynccontextmanager
async def site_world(household_a: float = 2.0) -> AsyncIterator[SiteWorld]:
    clock = SimClock(speed=1.0, tick_s=0.1)
    sim = SimSite(clock)
    meter = MeterSimulator(
        "socomec-e27", unit=5, load=LoadScript(household_a), ev_currents=sim.grid_currents,
        clock=clock.now,
    )  # fmt: skip
    port = await meter.start("127.0.0.1", 0)
    try:
        yield SiteWorld(clock, sim, meter, port)
    finally:
        await sim.stop()
        await meter.stop()
        await clock.close()


@contextlib.asynccontextmanager
async def node(settings: Settings, node_id: str) -> AsyncIterator[CentralSystem]:
    named = settings.model_copy(update={"node_id": node_id})
    async with running_central_system(named) as cs:
        yield cs


async def lease_rows(postgres_url: str) -> list[dict[str, Any]]:
    """The site-lease table as the database sees it now."""
    schema = postgres_url.split("schema=")[1]
    conn = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch(
            "SELECT site_id, node_id, epoch, lease_until > now() AS live FROM site_leases "
            "ORDER BY site_id"
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]
