"""Typed records out of the storage: built by column name, booleans as bool, on both engines."""

from __future__ import annotations

import pytest

from csms.storage import Store
from csms.storage.records import IdTagRecord, StationEventRecord, TransactionRecord
from csms.storage.transactions import StartRequest, StopRequest


def test_a_record_ignores_extra_columns_and_names_a_missing_one() -> None:
    row = {"id_tag": "T1", "note": None, "created_at": 1.0, "added_by_a_later_migration": 7}
    assert IdTagRecord.from_row(row) == IdTagRecord("T1", None, 1.0)
    with pytest.raises(KeyError, match="IdTagRecord: the row has no column 'created_at'"):
        IdTagRecord.from_row({"id_tag": "T1", "note": None})


async def test_online_is_a_bool_on_both_engines(store: Store) -> None:
    await store.stations.create("S1", "accepted", 1.0)
    await store.stations.set_online("S1", True, 2.0)
    online = await store.stations.get("S1")
    assert online is not None and online.online is True
    await store.stations.mark_all_offline()
    assert [(s.id, s.online) for s in await store.stations.all()] == [("S1", False)]
    assert [type(s.online) for s in await store.stations.all()] == [bool]


async def test_records_carry_the_stored_values(store: Store) -> None:
    tx, _ = await store.transactions.start(
        StartRequest("S1", 2, "TAG", 100, "2026-01-01T00:00:00Z", 5.0, reservation_id=9), 6.0
    )
    running = await store.transactions.get(tx)
    assert running == TransactionRecord(
        tx, "S1", 2, "TAG", 100, "2026-01-01T00:00:00Z", 5.0, 9, None, None, None, None, None, 6.0
    )
    assert running.energy_wh is None
    await store.transactions.stop(StopRequest("S1", tx, 350, "t1", 7.0, "Local", "TAG"), 8.0)
    assert [t.energy_wh for t in await store.transactions.latest("S1")] == [250]
    await store.events.record("S1", "DataTransfer", {"b": 1, "a": [2]}, 9.0)
    (event,) = await store.events.for_station("S1")
    assert isinstance(event, StationEventRecord)
    assert (event.kind, event.payload, event.data()) == (
        "DataTransfer",
        '{"a": [2], "b": 1}',
        {"a": [2], "b": 1},
    )
    await store.id_tags.add("T2", 1.0, "spare")
    await store.id_tags.add("T1", 2.0)
    assert await store.id_tags.all() == [
        IdTagRecord("T1", None, 2.0),
        IdTagRecord("T2", "spare", 1.0),
    ]


def test_a_stored_sampled_value_has_the_written_fields_and_its_id() -> None:
    """`SampledValueRow` (a named tuple, written on the hot path) and `MeterValueRecord` (read)
    spell out the same columns; a column added to one must be added to the other."""
    from dataclasses import fields

    from csms.storage.records import MeterValueRecord, SampledValueRow

    assert [f.name for f in fields(MeterValueRecord)] == ["id", *SampledValueRow._fields]
