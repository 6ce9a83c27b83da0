"""Transactions and meter values.

Transaction ids come from the database's sequence, so they are unique across stations and survive
restarts. A StartTransaction retried by the station (same station, connector, idTag, timestamp and
meterStart) finds its existing row and gets the same id back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from csms.storage.database import Database, Stmt
from csms.storage.records import MeterValueRecord, TransactionRecord, UnmatchedStopRecord


@dataclass(frozen=True, slots=True)
class StartRequest:
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    start_time: str
    started_at: float
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class StopRequest:
    station_id: str
    transaction_id: int
    meter_stop: int
    stop_time: str
    stopped_at: float
    reason: str | None
    id_tag: str | None


class SampledValueRow(NamedTuple):
    """One sampled value of a MeterValues message, flattened for storage.

    A named tuple, not a frozen dataclass: five or more are built per MeterValues on the hot path
    (a tuple costs about half), and the fields are in column order, so a row is already the
    argument tuple of the insert.
    """

    station_id: str
    connector_id: int
    transaction_id: int | None
    sampled_at: str
    value: str
    numeric: float | None
    measurand: str | None
    phase: str | None
    unit: str | None
    context: str | None
    location: str | None
    format: str | None
    received_at: float


_KEY = (
    "station_id = $1 AND connector_id = $2 AND id_tag = $3 AND start_time = $4 AND meter_start = $5"
)


class TransactionStore:
    """Start/stop transactions idempotently; store and query meter values."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, req: StartRequest, now: float) -> tuple[int, bool]:
        """Return (transaction id, created); a duplicate start returns the first id and False."""
        key = (req.station_id, req.connector_id, req.id_tag, req.start_time, req.meter_start)
        inserted, existing = await self.db.write(
            Stmt(
                "INSERT INTO transactions (station_id, connector_id, id_tag, start_time, "
                "meter_start, started_at, reservation_id, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (station_id, connector_id, id_tag, start_time, meter_start) "
                "DO NOTHING RETURNING id",
                (*key, req.started_at, req.reservation_id, now),
            ),
            Stmt(f"SELECT id FROM transactions WHERE {_KEY}", key),
        )
        return int(existing[0]["id"]), bool(inserted)

    async def stop(self, req: StopRequest, now: float) -> TransactionRecord | None:
        """Close the transaction; None when the id is unknown (then it is kept aside).

        A repeated stop leaves the first stop's values in place.
        """
        _, found = await self.db.write(
            Stmt(
                "UPDATE transactions SET meter_stop = $3, stop_time = $4, stopped_at = $5, "
                "stop_reason = $6, stop_id_tag = $7 "
                "WHERE id = $1 AND station_id = $2 AND meter_stop IS NULL RETURNING id",
                (
                    req.transaction_id,
                    req.station_id,
                    req.meter_stop,
                    req.stop_time,
                    req.stopped_at,
                    req.reason,
                    req.id_tag,
                ),
            ),
            Stmt(
                "SELECT id FROM transactions WHERE id = $1 AND station_id = $2",
                (req.transaction_id, req.station_id),
            ),
        )
        if not found:
            await self.db.write(
                Stmt(
                    "INSERT INTO unmatched_stops (station_id, transaction_id, id_tag, meter_stop, "
                    "stop_time, reason, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    (
                        req.station_id,
                        req.transaction_id,
                        req.id_tag,
                        req.meter_stop,
                        req.stop_time,
                        req.reason,
                        now,
                    ),
                )
            )
            return None
        return await self.get(req.transaction_id)

    async def get(self, transaction_id: int) -> TransactionRecord | None:
        row = await self.db.fetchrow("SELECT * FROM transactions WHERE id = $1", transaction_id)
        return None if row is None else TransactionRecord.from_row(row)

    async def latest(
        self, station_id: str | None = None, limit: int = 100
    ) -> list[TransactionRecord]:
        """The latest transactions (of one station, if given), newest first."""
        if station_id is None:
            rows = await self.db.fetch(
                "SELECT * FROM transactions ORDER BY id DESC LIMIT $1", limit
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM transactions WHERE station_id = $1 ORDER BY id DESC LIMIT $2",
                station_id,
                limit,
            )
        return [TransactionRecord.from_row(r) for r in rows]

    async def running(self, station_id: str | None = None) -> list[TransactionRecord]:
        """Transactions without a stop, oldest first."""
        if station_id is None:
            rows = await self.db.fetch(
                "SELECT * FROM transactions WHERE meter_stop IS NULL ORDER BY id"
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM transactions WHERE meter_stop IS NULL AND station_id = $1 "
                "ORDER BY id",
                station_id,
            )
        return [TransactionRecord.from_row(r) for r in rows]

    async def unmatched_stops(self, station_id: str) -> list[UnmatchedStopRecord]:
        rows = await self.db.fetch(
            "SELECT * FROM unmatched_stops WHERE station_id = $1 ORDER BY id", station_id
        )
        return [UnmatchedStopRecord.from_row(r) for r in rows]

    async def add_meter_values(self, rows: Sequence[SampledValueRow]) -> None:
        if not rows:
            return
        await self.db.write(
            Stmt(
                "INSERT INTO meter_values (station_id, connector_id, transaction_id, sampled_at, "
                "value, numeric, measurand, phase, unit, context, location, format, received_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                rows,
                many=True,
            )
        )

    async def meter_values(
        self,
        station_id: str,
        transaction_id: int | None = None,
        limit: int = 1000,
    ) -> list[MeterValueRecord]:
        """The station's sampled values (of one transaction, if given), oldest first."""
        if transaction_id is None:
            rows = await self.db.fetch(
                "SELECT * FROM meter_values WHERE station_id = $1 ORDER BY id LIMIT $2",
                station_id,
                limit,
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM meter_values WHERE station_id = $1 AND transaction_id = $2 "
                "ORDER BY id LIMIT $3",
                station_id,
                transaction_id,
                limit,
            )
        return [MeterValueRecord.from_row(r) for r in rows]

    async def latest_energy_register_wh(self, tx: TransactionRecord) -> float | None:
        """The running transaction's latest Energy.Active.Import.Register reading (whole
        outlet) in Wh: a reading with its id, or one of its connector received since it started
        without a usable id (no transactionId, or Alfen's 2^63-1)."""
        alfen_no_transaction = 2**63 - 1
        row = await self.db.fetchrow(
            "SELECT numeric, unit FROM meter_values WHERE station_id = $1 AND connector_id = $2 "
            "AND (transaction_id = $3 OR ((transaction_id IS NULL OR transaction_id = $4) "
            "AND received_at >= $5)) "
            "AND measurand = 'Energy.Active.Import.Register' AND phase IS NULL "
            "AND numeric IS NOT NULL ORDER BY id DESC LIMIT 1",
            tx.station_id,
            tx.connector_id,
            tx.id,
            alfen_no_transaction,
            tx.created_at,
        )
        if row is None:
            return None
        return float(row["numeric"]) * (1000.0 if row["unit"] == "kWh" else 1.0)
