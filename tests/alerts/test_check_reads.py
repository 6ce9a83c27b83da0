"""One alert evaluation on both engines: it reads the database as often for 20 stations as for
2 (one query for every station's connectors, the gauges from the rows the rules read), and the
firmware alert comes from the operations' failed updates (the narrow callable), not from a query
of the event log of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from csms.alerts.rules import Alert
from csms.alerts.service import AlertService
from csms.operations.records import FirmwareState
from csms.settings import AlertSettings
from csms.storage import Store
from csms.storage.records import StatusRecord

NOW = 10_000.0


async def add_stations(store: Store, first: int, count: int) -> None:
    for n in range(first, first + count):
        station_id = f"AL-{n:02d}"
        await store.stations.create(station_id, "accepted", NOW)
        for connector_id in (1, 2):
            status = StatusRecord(connector_id, "Available", "NoError", None, None, None, None)
            await store.stations.record_status(station_id, status, NOW)


async def evaluate(
    store: Store, monkeypatch: pytest.MonkeyPatch, failed: Sequence[FirmwareState] = ()
) -> tuple[int, list[Alert]]:
    """The database reads of one evaluation (a fresh service: nothing remembered) and its alerts."""

    async def failed_firmware() -> Sequence[FirmwareState]:
        return failed

    service = AlertService(
        AlertSettings(), store, lambda: NOW, site_of=lambda _: None, safe_mode_sites=dict,
        online=lambda _: True, failed_firmware=failed_firmware,
    )  # fmt: skip
    reads = 0
    fetch = store.db._fetch

    async def counted(sql: str, args: Sequence[Any]) -> Any:
        nonlocal reads
        reads += 1
        return await fetch(sql, args)

    with monkeypatch.context() as patch:
        patch.setattr(store.db, "_fetch", counted)
        alerts = await service.check()
    return reads, alerts


async def test_an_evaluation_reads_as_often_for_many_stations_as_for_few(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_stations(store, 0, 2)
    few, alerts = await evaluate(store, monkeypatch)
    assert alerts == []
    await add_stations(store, 2, 18)
    many, alerts = await evaluate(store, monkeypatch)
    assert alerts == [] and many == few


async def test_the_firmware_alert_comes_from_the_failed_updates_it_is_given(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_stations(store, 0, 2)
    failed = [
        FirmwareState("AL-01", "fw-2", NOW - 60, "InstallationFailed", ()),
        FirmwareState("NOT-ACCEPTED", "fw-2", NOW - 60, "DownloadFailed", ()),
    ]
    _, alerts = await evaluate(store, monkeypatch, failed)
    assert [(a.kind, a.station_id) for a in alerts] == [("firmware-failed", "AL-01")]
    _, alerts = await evaluate(store, monkeypatch)
    assert alerts == []  # none reported failed: no alert (no query of its own finds one)
