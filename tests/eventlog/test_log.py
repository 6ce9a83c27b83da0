"""Reading and pruning the event log on both engines; vendor error meanings."""

from __future__ import annotations

from csms.eventlog.log import EventRecorder, read_log
from csms.eventlog.meanings import error_meaning
from csms.events import EventBus
from csms.storage import Store
from csms.storage.stations import StatusRecord


def test_error_meanings() -> None:
    assert error_meaning("NoError", None, None) == ""
    assert error_meaning("GroundFailure", None, None).startswith("ground fault")
    assert error_meaning("OtherError", "Alfen BV", "210").endswith(
        "vendor error 210: Modbus TCP/IP energy management lost: the station runs at its "
        "safe current"
    )
    # Another vendor's code 210 is not Alfen's; an unknown code is shown as it came.
    assert error_meaning("OtherError", "Other", "210").endswith("vendor error 210")
    assert error_meaning("NoError", None, "999") == "vendor error 999"


async def test_read_filter_page_and_prune(store: Store) -> None:
    await store.stations.create("S1", "accepted", 0)
    await store.stations.create("S2", "accepted", 0)
    for at in (100.0, 200.0, 300.0):
        await store.stations.record_status(
            "S1", StatusRecord(1, "Faulted", "OtherError", "x", None, "210", None), at
        )
    await store.events.record("S1", "SecurityEventNotification", {"type": "TamperDetected"}, 250)
    await store.events.record("S2", "FirmwareStatusNotification", {"status": "Installed"}, 260)

    entries = await read_log(store.db, ["S1"])
    assert [(e.at, e.kind) for e in entries] == [
        (300.0, "StatusNotification"),
        (250.0, "SecurityEventNotification"),
        (200.0, "StatusNotification"),
        (100.0, "StatusNotification"),
    ]
    assert entries[1].summary == "security event TamperDetected"
    assert "vendor error 210" in entries[0].summary
    page = await read_log(store.db, ["S1"], before=250.0, limit=1)
    assert [e.at for e in page] == [200.0]
    kinds = await read_log(store.db, None, kinds=["FirmwareStatusNotification"])
    assert [(e.station_id, e.summary) for e in kinds] == [("S2", "firmware: Installed")]
    assert [e.at for e in await read_log(store.db, None, since=255.0)] == [300.0, 260.0]

    recorder = EventRecorder(store.db, EventBus(), lambda: 1000.0, retention_days=1)
    assert await recorder.prune(older_than=255.0) == 3
    assert [e.at for e in await read_log(store.db, None)] == [300.0, 260.0]
