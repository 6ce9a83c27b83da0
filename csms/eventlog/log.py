"""Reading the event log, and the recorder that adds connects, disconnects and boots to it and
prunes old rows.

StatusNotifications come from their own history table; DataTransfer, firmware and diagnostics
status and security events from `station_events` (the messages as the OCPP handlers kept them);
connects, disconnects and boots from `station_log` (written by the recorder here). Pruning
deletes in small batches from its own task, so the stations' writes never wait long behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from csms import events
from csms.eventlog.meanings import error_meaning
from csms.storage.database import Database, Stmt

log = logging.getLogger(__name__)

STATUS = "StatusNotification"
KINDS = (
    STATUS,
    "Connected",
    "Disconnected",
    "BootNotification",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "SecurityEventNotification",
    "DataTransfer",
)
PRUNE_BATCH = 500


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: float
    station_id: str
    kind: str
    summary: str
    """One readable line."""
    detail: dict[str, Any] = field(default_factory=dict)


def _status_entry(row: Any) -> LogEntry:
    meaning = error_meaning(row["error_code"], row["vendor_id"], row["vendor_error_code"])
    summary = f"connector {row['connector_id']}: {row['status']}"
    if row["error_code"] != "NoError":
        summary += f" ({row['error_code']})"
    if meaning and row["vendor_error_code"]:
        summary += f" — {meaning}"
    if row["info"]:
        summary += f" [{row['info']}]"
    detail = {
        k: row[k]
        for k in (
            "connector_id",
            "status",
            "error_code",
            "info",
            "vendor_id",
            "vendor_error_code",
            "station_time",
        )
    }
    detail["meaning"] = meaning or None
    return LogEntry(float(row["received_at"]), row["station_id"], STATUS, summary, detail)


def _event_summary(kind: str, data: dict[str, Any]) -> str:
    if kind in ("FirmwareStatusNotification", "DiagnosticsStatusNotification"):
        return f"{kind.removesuffix('StatusNotification').lower()}: {data.get('status')}"
    if kind == "SecurityEventNotification":
        info = f" ({data['techInfo']})" if data.get("techInfo") else ""
        return f"security event {data.get('type')}{info}"
    if kind == "BootNotification":
        return (
            f"boot ({data.get('status')}): {data.get('vendor')} {data.get('model')}, "
            f"firmware {data.get('firmware')}"
        )
    if kind == "DataTransfer":
        return f"data transfer from {data.get('vendorId')} {data.get('messageId') or ''}".strip()
    return kind.lower()


def _event_entry(row: Any) -> LogEntry:
    data = json.loads(row["payload"])
    data = data if isinstance(data, dict) else {"payload": data}
    summary = _event_summary(row["kind"], data)
    return LogEntry(float(row["received_at"]), row["station_id"], row["kind"], summary, data)


async def read_log(
    db: Database,
    station_ids: Sequence[str] | None,
    since: float | None = None,
    before: float | None = None,
    kinds: Sequence[str] | None = None,
    limit: int = 100,
) -> list[LogEntry]:
    """Entries newest first, of the given stations (None: all), in [since, before), of the given
    kinds (None: all); `before` pages back (pass the last entry's `at`)."""
    out: list[LogEntry] = []
    for table in ("status_notifications", "station_events", "station_log"):
        where: list[str] = []
        args: list[Any] = []
        if station_ids is not None:
            if not station_ids:
                return []
            marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(station_ids)))
            args.extend(station_ids)
            where.append(f"station_id IN ({marks})")
        if table == "status_notifications" and kinds is not None and STATUS not in kinds:
            continue
        if table != "status_notifications" and kinds is not None:
            others = [k for k in kinds if k != STATUS]
            if not others:
                continue
            marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(others)))
            args.extend(others)
            where.append(f"kind IN ({marks})")
        for clause, value in (("received_at >= ", since), ("received_at < ", before)):
            if value is not None:
                args.append(value)
                where.append(f"{clause}${len(args)}")
        args.append(limit)
        condition = " AND ".join(where) or "1 = 1"
        rows = await db.fetch(
            f"SELECT * FROM {table} WHERE {condition} ORDER BY received_at DESC, id DESC "
            f"LIMIT ${len(args)}",
            *args,
        )
        convert = _status_entry if table == "status_notifications" else _event_entry
        out.extend(convert(r) for r in rows)
    out.sort(key=lambda e: e.at, reverse=True)
    return out[:limit]


class EventRecorder:
    """Adds connects, disconnects and boots to the log; prunes rows past the retention."""

    def __init__(
        self,
        db: Database,
        bus: events.EventBus,
        clock: Callable[[], float],
        retention_days: float,
        prune_every_s: float = 3600.0,
        runs_once: Callable[[], bool] = lambda: True,
    ) -> None:
        """`runs_once`: whether this process runs the cluster's once-only jobs (pruning)."""
        self.db = db
        self.runs_once = runs_once
        self.bus = bus
        self.clock = clock
        self.retention_s = retention_days * 86400.0
        self.prune_every_s = prune_every_s

    async def run(self) -> None:
        queue = self.bus.subscribe(
            events.StationConnected, events.StationDisconnected, events.StationBooted
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._prune_loop())
                while True:
                    event = await queue.get()
                    try:
                        await self._record(event)
                    except Exception as exc:  # the database away: this entry is lost, not the node
                        log.warning("event log: %s of %s not recorded: %r",
                                    type(event).__name__, event.station_id, exc)  # fmt: skip
        finally:
            self.bus.unsubscribe(queue)

    async def _record(self, event: events.Event) -> None:
        data: dict[str, Any] = {}
        if isinstance(event, events.StationConnected):
            kind = "Connected"
        elif isinstance(event, events.StationDisconnected):
            kind = "Disconnected"
        elif isinstance(event, events.StationBooted):
            kind = "BootNotification"
            data = {
                "status": event.status,
                "vendor": event.vendor,
                "model": event.model,
                "firmware": event.firmware,
            }
        else:
            return
        # Only accepted stations: an unknown station reconnecting in a loop must not fill the
        # log (the OCPP shell bounds what a pending station may store).
        status = await self.db.fetchval(
            "SELECT status FROM stations WHERE id = $1", event.station_id
        )
        if status != "accepted":
            return
        await self.db.write(
            Stmt(
                "INSERT INTO station_log (station_id, kind, payload, received_at) "
                "VALUES ($1, $2, $3, $4)",
                (event.station_id, kind, json.dumps(data, sort_keys=True), event.at),
            )
        )

    async def _prune_loop(self) -> None:
        while True:
            if not self.runs_once():  # another node of the cluster prunes; ask again soon
                await asyncio.sleep(min(60.0, self.prune_every_s))
                continue
            try:
                deleted = await self.prune(self.clock() - self.retention_s)
                if deleted:
                    log.info("event log: pruned %d rows older than the retention", deleted)
            except Exception:
                log.exception("event log: pruning failed (retried later)")
            await asyncio.sleep(self.prune_every_s)

    async def prune(self, older_than: float) -> int:
        """Delete rows received before `older_than`, a batch at a time; the count deleted."""
        total = 0
        for table in ("status_notifications", "station_events", "station_log"):
            while True:
                (rows,) = await self.db.write(
                    Stmt(
                        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                        f"WHERE received_at < $1 ORDER BY id LIMIT {PRUNE_BATCH}) RETURNING id",
                        (older_than,),
                    )
                )
                total += len(rows)
                if len(rows) < PRUNE_BATCH:
                    break
                await asyncio.sleep(0)  # let the stations' writes in between batches
        return total
