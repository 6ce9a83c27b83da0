"""Stations, their connectors and status history, id tags, and other station events."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from csms.storage.database import Database, Stmt
from csms.storage.records import (
    ConnectorRecord,
    IdTagRecord,
    StationEventRecord,
    StationRecord,
    StatusHistoryRecord,
)
from csms.storage.records import StatusRecord as StatusRecord  # written by the handlers

log = logging.getLogger(__name__)

STATION_STATUSES = ("pending", "accepted", "rejected")
# Tables whose rows a station adds by its messages (each has a `station_id` column).
BOUNDED_TABLES = (
    "connectors",
    "meter_values",
    "station_events",
    "status_notifications",
    "transactions",
    "unmatched_stops",
)


@dataclass(frozen=True, slots=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


class StationStore:
    """Registration, boot data, online state and connector status of stations."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Heartbeat times not yet handed to the database (station id → latest time), and the
        # one task that writes them (see `note_heartbeat`).
        self._heartbeats: dict[str, float] = {}
        self._heartbeat_writer: asyncio.Task[None] | None = None

    async def get(self, station_id: str) -> StationRecord | None:
        row = await self.db.fetchrow("SELECT * FROM stations WHERE id = $1", station_id)
        return None if row is None else StationRecord.from_row(row)

    async def all(self) -> list[StationRecord]:
        """Every registered station, by id."""
        return [
            StationRecord.from_row(r)
            for r in await self.db.fetch("SELECT * FROM stations ORDER BY id")
        ]

    async def ids(self) -> list[str]:
        return [row["id"] for row in await self.db.fetch("SELECT id FROM stations")]

    async def count_pending(self) -> int:
        """Stations waiting for approval (registered, never accepted nor rejected)."""
        return int(await self.db.fetchval("SELECT count(*) FROM stations WHERE status = 'pending'"))

    async def count_rows(self, table: str, station_id: str, limit: int) -> int:
        """How many rows of `table` belong to the station, counted up to `limit`.

        Bounds what a station that is not accepted may store (see `Handlers`).
        """
        assert table in BOUNDED_TABLES, table
        return int(
            await self.db.fetchval(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE station_id = $1 LIMIT $2) AS t",
                station_id,
                limit,
            )
        )

    async def create(self, station_id: str, status: str, now: float) -> StationRecord:
        """Register a station (idempotent: an existing row is returned unchanged)."""
        await self.db.write(
            Stmt(
                "INSERT INTO stations (id, status, first_seen) VALUES ($1, $2, $3) "
                "ON CONFLICT (id) DO NOTHING",
                (station_id, status, now),
            )
        )
        row = await self.get(station_id)
        assert row is not None
        return row

    async def set_status(self, station_id: str, status: str) -> bool:
        """Approve or reject; False when the station is unknown."""
        assert status in STATION_STATUSES
        rows = await self.db.write(
            Stmt("UPDATE stations SET status = $2 WHERE id = $1 RETURNING id", (station_id, status))
        )
        return bool(rows[0])

    async def set_password_hash(self, station_id: str, password_hash: str | None) -> bool:
        rows = await self.db.write(
            Stmt(
                "UPDATE stations SET password_hash = $2 WHERE id = $1 RETURNING id",
                (station_id, password_hash),
            )
        )
        return bool(rows[0])

    async def record_boot(self, station_id: str, boot: BootInfo, now: float) -> None:
        await self.db.write(
            Stmt(
                "UPDATE stations SET vendor = $2, model = $3, serial_number = $4, "
                "firmware_version = $5, iccid = $6, imsi = $7, meter_type = $8, "
                "meter_serial_number = $9, boot_at = $10, last_seen = $10 WHERE id = $1",
                (
                    station_id,
                    boot.vendor,
                    boot.model,
                    boot.serial_number,
                    boot.firmware_version,
                    boot.iccid,
                    boot.imsi,
                    boot.meter_type,
                    boot.meter_serial_number,
                    now,
                ),
            )
        )

    async def set_online(self, station_id: str, online: bool, now: float) -> None:
        await self.db.write(
            Stmt(
                "UPDATE stations SET online = $2, last_seen = $3 WHERE id = $1",
                (station_id, 1 if online else 0, now),
            )
        )

    async def mark_all_offline(self) -> None:
        """At start-up nobody is connected yet, whatever the last run left behind."""
        await self.db.write(Stmt("UPDATE stations SET online = 0 WHERE online <> 0"))

    def note_heartbeat(self, station_id: str, now: float) -> None:
        """Store a Heartbeat's time without making its answer wait for the commit.

        A heartbeat carries no data a station expects us to keep (unlike a transaction or a
        meter value, acknowledged only once durable): what it changes is `last_heartbeat` and
        `last_seen`, which a crash may leave one commit older. Waiting for the commit was most of
        a heartbeat's latency at 10,000 stations (p99 94 → 40 ms without it, docs/performance.md,
        "Heartbeats answered before their write"). The times go out in one statement per write,
        as many stations' as came in while the previous write was committed.
        """
        self._heartbeats[station_id] = now
        if self._heartbeat_writer is None or self._heartbeat_writer.done():
            self._heartbeat_writer = asyncio.get_running_loop().create_task(
                self._write_heartbeats(), name="heartbeat-writer"
            )

    async def _write_heartbeats(self) -> None:
        while self._heartbeats:
            batch, self._heartbeats = self._heartbeats, {}
            try:
                await self.db.write(
                    Stmt(
                        "UPDATE stations SET last_heartbeat = $2, last_seen = $2 WHERE id = $1",
                        list(batch.items()),
                        many=True,
                    )
                )
            except Exception:
                log.exception("heartbeat times of %d station(s) not stored", len(batch))

    async def heartbeats_written(self) -> None:
        """Wait until every heartbeat noted so far is written (shutdown, tests)."""
        while self._heartbeat_writer is not None and not self._heartbeat_writer.done():
            await asyncio.shield(self._heartbeat_writer)

    async def record_status(
        self, station_id: str, status: StatusRecord, now: float, history: bool = True
    ) -> None:
        """Update the connector's current state and (unless `history` is False) append to the
        history, atomically."""
        args = (
            station_id,
            status.connector_id,
            status.status,
            status.error_code,
            status.info,
            status.vendor_id,
            status.vendor_error_code,
            status.station_time,
            now,
        )
        current = Stmt(
            "INSERT INTO connectors (station_id, connector_id, status, error_code, info, "
            "vendor_id, vendor_error_code, station_time, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (station_id, connector_id) DO UPDATE SET status = excluded.status, "
            "error_code = excluded.error_code, info = excluded.info, "
            "vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code, "
            "station_time = excluded.station_time, updated_at = excluded.updated_at",
            args,
        )
        if not history:
            await self.db.write(current)
            return
        await self.db.write(
            Stmt(
                "INSERT INTO status_notifications (station_id, connector_id, status, error_code, "
                "info, vendor_id, vendor_error_code, station_time, received_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                args,
            ),
            current,
        )

    async def connectors(self, station_id: str) -> list[ConnectorRecord]:
        rows = await self.db.fetch(
            "SELECT * FROM connectors WHERE station_id = $1 ORDER BY connector_id", station_id
        )
        return [ConnectorRecord.from_row(r) for r in rows]

    async def all_connectors(self) -> list[ConnectorRecord]:
        """Every station's connectors in one query (the console's station list)."""
        rows = await self.db.fetch("SELECT * FROM connectors ORDER BY station_id, connector_id")
        return [ConnectorRecord.from_row(r) for r in rows]

    async def status_history(self, station_id: str, limit: int = 100) -> list[StatusHistoryRecord]:
        """The station's latest StatusNotifications, newest first."""
        rows = await self.db.fetch(
            "SELECT * FROM status_notifications WHERE station_id = $1 ORDER BY id DESC LIMIT $2",
            station_id,
            limit,
        )
        return [StatusHistoryRecord.from_row(r) for r in rows]


class EventStore:
    """Messages kept as they came: DataTransfer, diagnostics and firmware notifications."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, station_id: str, kind: str, payload: dict[str, Any], now: float) -> None:
        await self.db.write(
            Stmt(
                "INSERT INTO station_events (station_id, kind, payload, received_at) "
                "VALUES ($1, $2, $3, $4)",
                (station_id, kind, json.dumps(payload, sort_keys=True), now),
            )
        )

    async def for_station(
        self, station_id: str, kind: str | None = None, limit: int = 100
    ) -> list[StationEventRecord]:
        """The station's latest events (of one `kind`, if given), newest first."""
        if kind is None:
            rows = await self.db.fetch(
                "SELECT * FROM station_events WHERE station_id = $1 ORDER BY id DESC LIMIT $2",
                station_id,
                limit,
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM station_events WHERE station_id = $1 AND kind = $2 "
                "ORDER BY id DESC LIMIT $3",
                station_id,
                kind,
                limit,
            )
        return [StationEventRecord.from_row(r) for r in rows]


class IdTagStore:
    """The allow-list used when `authorization = "allow-list"`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def is_allowed(self, id_tag: str) -> bool:
        return await self.db.fetchval("SELECT 1 FROM id_tags WHERE id_tag = $1", id_tag) is not None

    async def add(self, id_tag: str, now: float, note: str | None = None) -> None:
        await self.db.write(
            Stmt(
                "INSERT INTO id_tags (id_tag, note, created_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (id_tag) DO UPDATE SET note = excluded.note",
                (id_tag, note, now),
            )
        )

    async def remove(self, id_tag: str) -> bool:
        rows = await self.db.write(
            Stmt("DELETE FROM id_tags WHERE id_tag = $1 RETURNING id_tag", (id_tag,))
        )
        return bool(rows[0])

    async def all(self) -> list[IdTagRecord]:
        """The whole allow-list, by id tag."""
        return [
            IdTagRecord.from_row(r)
            for r in await self.db.fetch("SELECT * FROM id_tags ORDER BY id_tag")
        ]
