"""Transactions and meter values.

Transaction ids come from the database's sequence, so they are unique across stations and survive
restarts. A StartTransaction retried by the station (same station, connector, idTag, timestamp and
meterStart) finds its existing row and gets the same id back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from csms.storage.database import Database, Stmt
from csms.storage.records import MeterValueRecord, TransactionRecord, UnmatchedStopRecord
from csms.storage.records import MeterValueRow as MeterValueRow  # written by the handlers


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

    async def close_by_operator(
        self, transaction_id: int, meter_stop: int, reason: str, now: float
    ) -> TransactionRecord | None:
        """Close a transaction whose StopTransaction will never come; None when it is not
        open. A StopTransaction arriving later finds it closed and changes nothing."""
        stop_time = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        (rows,) = await self.db.write(
            Stmt(
                "UPDATE transactions SET meter_stop = $2, stop_time = $3, stopped_at = $4, "
                "stop_reason = 'Other', close_reason = $5, closed_by_operator = 1 "
                "WHERE id = $1 AND meter_stop IS NULL RETURNING id",
                (transaction_id, meter_stop, stop_time, now, reason),
            )
        )
        return await self.get(transaction_id) if rows else None

    async def search(
        self,
        station_id: str | None = None,
        id_tag: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[TransactionRecord]:
        """Transactions started in [since, until) of a station and/or tag, newest first."""
        where, args = ["1 = 1"], []
        for clause, value in (
            ("station_id = ", station_id),
            ("id_tag = ", id_tag),
            ("started_at >= ", since),
            ("started_at < ", until),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{clause}${len(args)}")
        args.append(limit)
        rows = await self.db.fetch(
            f"SELECT * FROM transactions WHERE {' AND '.join(where)} "
            f"ORDER BY id DESC LIMIT ${len(args)}",
            *args,
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

    async def add_meter_values(self, rows: Sequence[MeterValueRow]) -> None:
        """Store meterValue elements, one row each (see `MeterValueRow`)."""
        if not rows:
            return
        await self.db.write(
            Stmt(
                "INSERT INTO meter_values (station_id, connector_id, transaction_id, sampled_at, "
                "samples, energy_wh, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        """The station's sampled values (of one transaction, if given), oldest first: at most
        `limit` (an element holds at least one, so `limit` rows always suffice)."""
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
        return [value for row in rows for value in MeterValueRecord.expand(row)][:limit]

    async def latest_energy_register_wh(self, tx: TransactionRecord) -> float | None:
        """The running transaction's latest Energy.Active.Import.Register reading (whole
        outlet) in Wh: a reading with its id, or one of its connector received since it started
        without a usable id (no transactionId, or Alfen's 2^63-1)."""
        alfen_no_transaction = 2**63 - 1
        value = await self.db.fetchval(
            "SELECT energy_wh FROM meter_values WHERE station_id = $1 AND connector_id = $2 "
            "AND (transaction_id = $3 OR ((transaction_id IS NULL OR transaction_id = $4) "
            "AND received_at >= $5)) AND energy_wh IS NOT NULL ORDER BY id DESC LIMIT 1",
            tx.station_id,
            tx.connector_id,
            tx.id,
            alfen_no_transaction,
            tx.created_at,
        )
        return None if value is None else float(value)
