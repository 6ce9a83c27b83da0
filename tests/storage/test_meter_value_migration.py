"""Migration 0520: the sampled values stored one row each become one row per meterValue element,
on both engines, with nothing lost: every value, its fields, its order, the energy register."""

from __future__ import annotations

from csms.storage import Store, open_database
from csms.storage.database import Database, Stmt
from csms.storage.transactions import StartRequest, TransactionStore

MIGRATION = "0520_meter_value_rows.sql"
OLD_INSERT = (
    "INSERT INTO meter_values (station_id, connector_id, transaction_id, sampled_at, value, "
    "numeric, measurand, phase, unit, context, location, format, received_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
)
REGISTER = "Energy.Active.Import.Register"
T0, T1 = "10:00:00", "10:01:00"


def _before(database: Database) -> None:
    """Open `database` with the migrations before 0520 only (an older release's schema)."""
    names = database._migration_names
    database._migration_names = lambda: [n for n in names() if n < MIGRATION]  # type: ignore[method-assign]


async def test_stored_sampled_values_survive_the_move_to_one_row_per_element(
    database_url: str,
) -> None:
    old = open_database(database_url)
    _before(old)
    await old.open()
    try:
        tx, _ = await TransactionStore(old).start(StartRequest("S1", 1, "TAG", 100, "t0", 1.0), 1.0)
        rows = [
            # An element of three values (10:00:00), another of one, another connector's, and
            # one without a transaction — as the old handler wrote them, one row per value.
            ("S1", 1, tx, T0, "12.5", 12.5, REGISTER, None, "kWh", None, "Outlet", None, 5.0),
            ("S1", 1, tx, T0, "16", 16.0, "Current.Import", "L1", "A", None, None, None, 5.0),
            ("S1", 1, tx, T0, "15", 15.0, "Current.Import", "L2", "A", "Sample.Periodic", None,
             None, 5.0),
            ("S1", 1, tx, T1, "12600", 12600.0, REGISTER, None, "Wh", None, None, None, 6.0),
            ("S1", 2, None, T1, "x", None, "Current.Offered", None, None, None, None,
             "SignedData", 6.0),
        ]  # fmt: skip
        await old.write(Stmt(OLD_INSERT, rows, many=True))
    finally:
        await old.close()

    new = open_database(database_url)
    await new.open()
    try:
        assert await new.pending_migrations() == []
        assert await new.fetchval("SELECT count(*) FROM meter_values") == 3  # elements
        store = Store.on(new)
        values = await store.transactions.meter_values("S1")
        got = [
            (v.connector_id, v.transaction_id, v.sampled_at, v.value, v.numeric, v.measurand,
             v.phase, v.unit, v.context, v.location, v.format, v.received_at)
            for v in values
        ]  # fmt: skip
        assert got == [(r[1], r[2], *r[3:]) for r in rows]
        # Ids in the order the values came; the values of one element share theirs.
        ids = [v.id for v in values]
        assert ids == sorted(ids) and len(set(ids)) == 3
        assert [v.value for v in await store.transactions.meter_values("S1", tx)] == [
            "12.5", "16", "15", "12600",
        ]  # fmt: skip
        # The register, in Wh, is where the energy queries read it.
        registers = await new.fetch("SELECT energy_wh FROM meter_values ORDER BY id")
        assert [r["energy_wh"] for r in registers] == [12_500.0, 12_600.0, None]
        record = await store.transactions.get(tx)
        assert record is not None
        assert await store.transactions.latest_energy_register_wh(record) == 12_600.0
    finally:
        await new.close()
