"""Snapshot reading against hand-written fake stations: cut answers, refused full reads, paging."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from csms.config.catalog import CATALOG
from csms.config.service import ConfigService
from csms.events import EventBus, SnapshotTaken
from csms.ocpp.errors import CallErrorReceived
from csms.storage import Store, open_database

KEYS = {name: f"v-{i}" for i, name in enumerate(list(CATALOG)[:50])}
KEYS["GetConfigurationMaxKeys"] = "10"
KEYS["Vendor-Extra"] = "x"  # not in the catalog


class FakeStation:
    """Answers GetConfiguration like a station; records every call."""

    def __init__(self, *, truncate: bool = False, refuse_all: bool = False) -> None:
        self.truncate = truncate
        self.refuse_all = refuse_all
        self.calls: list[list[str] | None] = []

    def is_online(self, station_id: str) -> bool:
        return True

    def online_ids(self) -> list[str]:
        return []

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert action == "GetConfiguration"
        wanted = payload.get("key")
        self.calls.append(wanted)
        if not wanted:
            if self.refuse_all:
                raise CallErrorReceived("GenericError", "answer too large", {})
            names = list(KEYS)[:10] if self.truncate else list(KEYS)
            return {"configurationKey": [_item(n) for n in names]}
        asked = wanted[:10]  # GetConfigurationMaxKeys: the rest is dropped
        return {
            "configurationKey": [_item(n) for n in asked if n in KEYS],
            "unknownKey": [n for n in asked if n not in KEYS],
        }


def _item(name: str) -> dict[str, Any]:
    return {"key": name, "readonly": name == "GetConfigurationMaxKeys", "value": KEYS[name]}


@pytest.fixture
async def make_service(tmp_path: Path) -> Any:
    db = open_database(f"sqlite:///{tmp_path}/s.sqlite3")
    await db.open()

    def make(station: FakeStation) -> ConfigService:
        return ConfigService(station, Store.on(db), EventBus(), lambda: 1000.0)

    yield make
    await db.close()


async def test_complete_answer_needs_one_call(make_service: Any) -> None:
    station = FakeStation()
    service = make_service(station)
    queue = service.bus.subscribe()
    snap = await service.take_snapshot("A", "boot")
    assert snap.values == KEYS
    assert station.calls == [None]
    # Smart charging learns the station's capabilities from the event.
    event = queue.get_nowait()
    assert isinstance(event, SnapshotTaken)
    assert (event.station_id, event.snapshot_id, event.reason) == ("A", snap.id, "boot")
    assert event.values == KEYS


async def test_answer_cut_at_max_keys_is_completed_in_pages(make_service: Any) -> None:
    station = FakeStation(truncate=True)
    service = make_service(station)
    snap = await service.take_snapshot("A", "boot")
    catalog_keys = {k: v for k, v in KEYS.items() if k in CATALOG}
    assert {k: v for k, v in snap.values.items()} == catalog_keys  # Vendor-Extra is undiscoverable
    pages = station.calls[1:]
    assert pages and all(page is not None and len(page) <= 10 for page in pages)
    assert set(snap.unknown_keys) == set(CATALOG) - set(KEYS)


async def test_refused_full_read_falls_back_to_key_lists(make_service: Any) -> None:
    station = FakeStation(refuse_all=True)
    service = make_service(station)
    snap = await service.take_snapshot("A", "boot")
    assert snap.values == {k: v for k, v in KEYS.items() if k in CATALOG}
    assert station.calls[:2] == [None, ["GetConfigurationMaxKeys"]]
    assert all(len(page or []) <= 10 for page in station.calls[2:])
    # the next read asks for every key the last snapshot had (and reuses its max keys)
    station.calls.clear()
    again = await service.take_snapshot("A", "request")
    assert again.values == snap.values
    assert station.calls[0] is None and station.calls[1] != ["GetConfigurationMaxKeys"]


class StubbornStation:
    """Accepts Reset but never reboots (and never reconnects): pending values never apply."""

    def __init__(self) -> None:
        self.values = {"GetConfigurationMaxKeys": "35", "SCN-SocketID": "0"}
        self.resets: list[str] = []

    def is_online(self, station_id: str) -> bool:
        return True

    def online_ids(self) -> list[str]:
        return []

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "ChangeConfiguration":
            return {"status": "RebootRequired"}
        if action == "Reset":
            self.resets.append(payload["type"])
            return {"status": "Accepted"}
        wanted = payload.get("key") or list(self.values)
        return {
            "configurationKey": [
                {"key": k, "readonly": False, "value": self.values[k]}
                for k in wanted
                if k in self.values
            ]
        }


async def test_reset_without_a_boot_is_judged_by_a_fresh_read(tmp_path: Path) -> None:
    import asyncio

    from csms.config.repository import NewChange

    db = open_database(f"sqlite:///{tmp_path}/r.sqlite3")
    await db.open()
    station = StubbornStation()
    service = ConfigService(
        station, Store.on(db), EventBus(), lambda: 1000.0, boot_delay_s=0, reboot_timeout_s=0.2
    )
    runner = asyncio.create_task(service.run())
    try:
        await service.started.wait()
        (record,) = await service.submit("A", [NewChange("SCN-SocketID", "3")], "now")
        assert record.state == "reboot-pending"
        (done,) = await asyncio.wait_for(service.wait_settled([record.id]), 10)
        assert station.resets == ["Soft"]
        assert done.state == "not-verified" and "'0'" in (done.detail or "")
        latest = await service.store.latest_snapshot("A")
        assert latest is not None and latest.reason == "verify"
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await db.close()


async def test_a_reconnect_without_a_boot_is_read_again(tmp_path: Path) -> None:
    import asyncio

    from csms.events import StationBooted, StationConnected

    db = open_database(f"sqlite:///{tmp_path}/c.sqlite3")
    await db.open()
    station = StubbornStation()
    bus = EventBus()
    service = ConfigService(station, Store.on(db), bus, lambda: 1000.0, boot_delay_s=0)
    taken = bus.subscribe()
    runner = asyncio.create_task(service.run())

    async def next_snapshot() -> SnapshotTaken:
        while not isinstance(event := await taken.get(), SnapshotTaken):
            pass
        return event

    try:
        await service.started.wait()
        bus.publish(StationConnected("A", 1000.0))  # smart charging needs this connection's read
        assert (await asyncio.wait_for(next_snapshot(), 10)).reason == "connect"
        bus.publish(StationConnected("A", 1000.0))
        bus.publish(StationBooted("A", 1000.0, "Accepted", "Alfen BV", "NG910", None))
        assert (await asyncio.wait_for(next_snapshot(), 10)).reason == "boot"  # one read, not two
        await asyncio.sleep(0.2)
        assert taken.empty()
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await db.close()


async def test_a_when_idle_reboot_follows_a_connector_available_after_a_lost_stop(
    tmp_path: Path,
) -> None:
    """The StopTransaction never arrives, but the connector reports Available: the reboot that
    waited for the transaction goes out then, not at some later, unrelated wake-up."""
    import asyncio

    from csms.config.repository import NewChange
    from csms.events import ConnectorStatusChanged
    from csms.storage.stations import StatusRecord
    from csms.storage.transactions import StartRequest

    db = open_database(f"sqlite:///{tmp_path}/idle.sqlite3")
    await db.open()
    station = StubbornStation()
    bus = EventBus()
    store = Store.on(db)
    service = ConfigService(station, store, bus, lambda: 1000.0, boot_delay_s=0)
    await store.stations.create("A", "Accepted", 900.0)
    start = StartRequest("A", 1, "TAG", 0, "2026-11-30T19:00:00Z", 900.0)
    await store.transactions.start(start, 900.0)
    runner = asyncio.create_task(service.run())

    async def wait_for_detail(change_id: int, text: str) -> None:
        while True:
            change = await service.store.change(change_id)
            if change is not None and text in (change.detail or ""):
                return
            await asyncio.sleep(0.01)  # polling the database

    try:
        await service.started.wait()
        (record,) = await service.submit("A", [NewChange("SCN-SocketID", "3")], "when-idle")
        assert record.state == "reboot-pending"
        await asyncio.wait_for(wait_for_detail(record.id, "waits until transaction"), 10)
        assert station.resets == []
        available = StatusRecord(1, "Available", "NoError", None, None, None, None)
        await store.stations.record_status("A", available, 1000.0)
        bus.publish(ConnectorStatusChanged("A", 1, "Available", "NoError", None, None, 1000.0))
        await asyncio.wait_for(wait_for_detail(record.id, "Soft reset sent"), 10)
        assert station.resets == ["Soft"]
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await db.close()
