"""Typed records out of the storage: built by column name, booleans as bool, on both engines."""

from __future__ import annotations

import json

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


def test_a_stored_element_expands_to_its_sampled_values_with_the_ocpp_defaults() -> None:
    """One row per meterValue element; reading it gives each sampled value as the station sent
    it, with no measurand read as the energy register and SignedData given no number."""
    from csms.storage.records import ENERGY_REGISTER as ENERGY
    from csms.storage.records import MeterValueRecord, energy_register_wh

    sampled = [
        {"value": "12.5", "unit": "kWh"},
        {"value": "16", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "7", "format": "SignedData", "context": "Transaction.End"},
        {"value": "x", "measurand": "Current.Offered"},
    ]
    row = {"id": 9, "station_id": "S", "connector_id": 1, "transaction_id": 4,
           "sampled_at": "t", "samples": json.dumps(sampled), "received_at": 2.0}  # fmt: skip
    got = [
        (r.id, r.value, r.numeric, r.measurand, r.phase, r.unit, r.context, r.format)
        for r in MeterValueRecord.expand(row)
    ]
    assert got == [
        (9, "12.5", 12.5, ENERGY, None, "kWh", None, None),
        (9, "16", 16.0, "Current.Import", "L1", "A", None, None),
        (
            9,
            "7",
            None,
            "Energy.Active.Import.Register",
            None,
            None,
            "Transaction.End",
            "SignedData",
        ),
        (9, "x", None, "Current.Offered", None, None, None, None),
    ]
    # The register in Wh: kWh converted; a phase, SignedData or no number does not count.
    assert energy_register_wh(sampled) == 12_500.0
    assert energy_register_wh(sampled[1:]) is None
    assert energy_register_wh([{"value": "300", "unit": "Wh"}, {"value": "310"}]) == 310.0
