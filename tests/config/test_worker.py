"""The configuration worker's shell (csms/config/worker.py): an idle station holds no task, a
wake-up during a round runs one more round after it, and work starts again on the next event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from csms.config.service import ConfigService
from csms.events import EventBus, SnapshotTaken, StationBooted, StationConnected
from csms.sim.tasks import cancel_all
from csms.storage import Store, open_database
from tests.config.test_service import StubbornStation
from tests.support.waiting import eventually


class GatedStation(StubbornStation):
    """Answers like `StubbornStation`; holds each answer while `gate` is clear."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.reads = 0

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.reads += 1
        await self.gate.wait()
        return await super().call(station_id, action, payload)


def config_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("config-")]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[GatedStation, EventBus, Any, Any]]:
    db = open_database(f"sqlite:///{tmp_path}/w.sqlite3")
    await db.open()
    station, bus = GatedStation(), EventBus()
    service = ConfigService(station, Store.on(db), bus, lambda: 1000.0, boot_delay_s=0)
    taken = bus.subscribe()
    runner = asyncio.create_task(service.run())

    async def next_snapshot() -> str:
        """The reason of the next snapshot taken (other events skipped)."""
        while True:
            event = await taken.get()
            if isinstance(event, SnapshotTaken):
                return event.reason

    try:
        await service.started.wait()
        yield station, bus, next_snapshot, service
    finally:
        assert await cancel_all([runner]) == []
        await db.close()


async def test_an_idle_station_holds_no_task_and_is_read_again_on_its_next_boot(
    running: tuple[GatedStation, EventBus, Any, Any],
) -> None:
    _, bus, next_snapshot, _ = running
    assert config_tasks() == []
    bus.publish(StationBooted("A", 1000.0, "Accepted", "Alfen BV", "NG910", None))
    assert await asyncio.wait_for(next_snapshot(), 10) == "boot"
    await eventually(lambda: config_tasks() == [], 10)
    bus.publish(StationBooted("A", 1000.0, "Accepted", "Alfen BV", "NG910", None))
    assert await asyncio.wait_for(next_snapshot(), 10) == "boot"
    await eventually(lambda: config_tasks() == [], 10)


async def test_a_wake_up_during_a_round_runs_one_more_round_after_it(
    running: tuple[GatedStation, EventBus, Any, Any],
) -> None:
    station, bus, next_snapshot, service = running
    station.gate.clear()
    bus.publish(StationBooted("A", 1000.0, "Accepted", "Alfen BV", "NG910", None))
    await eventually(lambda: station.reads > 0, 10)  # the boot's round waits for its answer
    bus.publish(StationConnected("A", 1000.0))
    await eventually(lambda: service._workers["A"]._again, 10)  # noted while the round waits
    assert len(config_tasks()) == 1  # one round at a time
    station.gate.set()
    assert await asyncio.wait_for(next_snapshot(), 10) == "boot"
    assert await asyncio.wait_for(next_snapshot(), 10) == "connect"
    await eventually(lambda: config_tasks() == [], 10)
