"""Handlers for every station-initiated OCPP 1.6 message.

They only translate: payload → stored rows and domain events → response. Each handler returns after
its data is durably stored, so the session acknowledges nothing it could lose. The one exception
is Heartbeat: it carries no data, only the time a station was heard from, which is written right
after the answer (`StationStore.note_heartbeat`).

A station that is not accepted (Pending: waiting for the operator) may boot, heartbeat and report
status (OCPP 1.6 §4.2.1: while Pending it should send nothing else). Anything else is answered as
OCPP allows without giving it service: Authorize and StartTransaction get idTagInfo `Invalid`,
DataTransfer `Rejected`, and no domain events are published for it. What it sends is kept only up
to `pending_row_limit` rows per kind (transactions, meter values, status history, events,
unmatched stops, connectors), so an unapproved station cannot fill the database. A
StartTransaction or an unknown StopTransaction beyond that bound gets a CALLERROR instead of an
answer: the station keeps (and retries) it, so nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from csms import events
from csms.ocpp import errors
from csms.settings import Settings
from csms.storage import Store
from csms.storage.records import ENERGY_REGISTER, energy_register_wh, sampled_number
from csms.storage.stations import BootInfo, StatusRecord
from csms.storage.transactions import MeterValueRow, StartRequest, StopRequest

log = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1
# idTagInfo for a station that is not accepted: no charging through it.
NOT_ADMITTED = {"status": "Invalid"}
# What is kept of a string field in a message from a station that is not accepted.
TRIMMED_CHARS = 1000


def trimmed(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with long strings cut to `TRIMMED_CHARS` (their full length noted)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if isinstance(value, str) and len(value) > TRIMMED_CHARS:
            out[key] = value[:TRIMMED_CHARS]
            out[f"{key}Length"] = len(value)
        else:
            out[key] = value
    return out


def parse_timestamp(text: str) -> float:
    """Epoch seconds from an OCPP timestamp; no zone means UTC (some stations omit it)."""
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise errors.OcppCallError(
            errors.PROPERTY_CONSTRAINT_VIOLATION, f"timestamp {text!r} is not an ISO 8601 time"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso_now(now: float) -> str:
    return (
        datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def meter_value_rows(
    station_id: str,
    connector_id: int,
    tx_id: int | None,
    meter_values: list[dict[str, Any]],
    now: float,
) -> list[MeterValueRow]:
    """The rows of a MeterValues' `meterValue` (or a StopTransaction's `transactionData`):
    one per element, its sampled values as sent (timestamps checked first)."""
    rows = []
    for meter_value in meter_values:
        sampled_at = meter_value["timestamp"]
        parse_timestamp(sampled_at)
        sampled = meter_value["sampledValue"]
        rows.append(
            MeterValueRow(
                station_id,
                connector_id,
                tx_id,
                sampled_at,
                orjson.dumps(sampled).decode(),
                energy_register_wh(sampled),
                now,
            )
        )
    return rows


def _tx_id(value: Any) -> int | None:
    """Transaction ids outside 64-bit range cannot be stored; keep them as unknown."""
    if isinstance(value, int) and -INT64_MAX - 1 <= value <= INT64_MAX:
        return value
    return None


class Handlers:
    """The central system's side of each station-initiated message."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        bus: events.EventBus,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clock = clock
        # `await heartbeat_interval(station_id, default)`: the interval to answer an accepted
        # boot with (configuration management's desired HeartbeatInterval; wired by the app).
        self.heartbeat_interval: Callable[[str, int], Awaitable[int]] | None = None
        # `await id_tag_info(station_id, id_tag)`: the tag service's idTagInfo (wired by the app).
        self.id_tag_info: Callable[[str, str], Awaitable[dict[str, Any]]] | None = None
        # Stations known to be accepted. Only "accepted" is cached: approval takes effect at the
        # next message; leaving "accepted" (rejection) closes the session, and the server calls
        # `forget` at every new connection.
        self._accepted: set[str] = set()
        # (station, kind) whose bound was reported: a flood of messages logs once, not per message.
        self._bound_logged: set[tuple[str, str]] = set()
        self._table = {
            "Authorize": self.authorize,
            "BootNotification": self.boot_notification,
            "DataTransfer": self.data_transfer,
            "DiagnosticsStatusNotification": self.diagnostics_status,
            "FirmwareStatusNotification": self.firmware_status,
            "Heartbeat": self.heartbeat,
            "MeterValues": self.meter_values,
            "SecurityEventNotification": self.security_event,
            "StartTransaction": self.start_transaction,
            "StatusNotification": self.status_notification,
            "StopTransaction": self.stop_transaction,
        }

    async def __call__(
        self, station_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        handler = self._table.get(action)
        if handler is None:
            raise errors.OcppCallError(
                errors.NOT_IMPLEMENTED, f"action {action!r} is not supported"
            )
        return await handler(station_id, payload)

    def forget(self, station_id: str) -> None:
        """Read the station's registration again at its next message."""
        self._accepted.discard(station_id)

    async def _admitted(self, station_id: str) -> bool:
        if station_id in self._accepted:
            return True
        row = await self.store.stations.get(station_id)
        if row is None or row.status != "accepted":
            return False
        self._accepted.add(station_id)
        return True

    async def _room(self, table: str, station_id: str) -> int:
        """How many more rows a station that is not accepted may add to `table`."""
        limit = self.settings.pending_row_limit
        return limit - await self.store.stations.count_rows(table, station_id, limit)

    def _bound_reached(self, station_id: str, what: str) -> None:
        """Log (once per station and kind, then at debug level) that a bound was reached."""
        first = (station_id, what) not in self._bound_logged
        self._bound_logged.add((station_id, what))
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "%s: not accepted and its bound of %d %s is reached; no more are kept",
            station_id,
            self.settings.pending_row_limit,
            what,
        )

    def _not_admitted(self, station_id: str, what: str) -> errors.OcppCallError:
        self._bound_reached(station_id, what)
        return errors.OcppCallError(
            errors.SECURITY_ERROR, f"station is not accepted; no more {what} are kept for it"
        )

    async def _id_tag_info(self, station_id: str, id_tag: str) -> dict[str, Any]:
        if self.id_tag_info is not None:
            return await self.id_tag_info(station_id, id_tag)
        if self.settings.authorization == "accept-all":
            return {"status": "Accepted"}
        allowed = await self.store.id_tags.is_allowed(id_tag)
        return {"status": "Accepted" if allowed else "Invalid"}

    async def authorize(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        if not await self._admitted(station_id):
            return {"idTagInfo": dict(NOT_ADMITTED)}
        return {"idTagInfo": await self._id_tag_info(station_id, p["idTag"])}

    async def boot_notification(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        boot = BootInfo(
            vendor=p["chargePointVendor"],
            model=p["chargePointModel"],
            serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
            firmware_version=p.get("firmwareVersion"),
            iccid=p.get("iccid"),
            imsi=p.get("imsi"),
            meter_type=p.get("meterType"),
            meter_serial_number=p.get("meterSerialNumber"),
        )
        await self.store.stations.record_boot(station_id, boot, now)
        row = await self.store.stations.get(station_id)
        registered = row is not None and row.status == "accepted"
        status = "Accepted" if registered else "Pending"
        self.bus.publish(
            events.StationBooted(
                station_id, now, status, boot.vendor, boot.model, boot.firmware_version
            )
        )
        interval = self.settings.heartbeat_interval_s if registered else 60
        if registered and self.heartbeat_interval is not None:
            # The station applies it to HeartbeatInterval: answer what the operator set.
            interval = await self.heartbeat_interval(station_id, interval)
        return {"status": status, "currentTime": iso_now(now), "interval": interval}

    async def heartbeat(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        self.store.stations.note_heartbeat(station_id, now)  # written after the answer
        return {"currentTime": iso_now(now)}

    async def status_notification(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        record = StatusRecord(
            connector_id=p["connectorId"],
            status=p["status"],
            error_code=p["errorCode"],
            info=p.get("info"),
            vendor_id=p.get("vendorId"),
            vendor_error_code=p.get("vendorErrorCode"),
            station_time=p.get("timestamp"),
        )
        if await self._admitted(station_id):
            await self.store.stations.record_status(station_id, record, now)
        else:
            await self._record_status_bounded(station_id, record, now)
        self.bus.publish(
            events.ConnectorStatusChanged(
                station_id,
                record.connector_id,
                record.status,
                record.error_code,
                record.info,
                record.vendor_error_code,
                now,
            )
        )
        return {}

    async def _record_status_bounded(
        self, station_id: str, record: StatusRecord, now: float
    ) -> None:
        limit = self.settings.pending_row_limit
        connectors = await self.store.stations.connectors(station_id)
        known = any(c.connector_id == record.connector_id for c in connectors)
        if not known and len(connectors) >= limit:
            self._bound_reached(station_id, "connectors")
            return
        history = await self._room("status_notifications", station_id) > 0
        if not history:
            self._bound_reached(station_id, "status history rows")
        await self.store.stations.record_status(station_id, record, now, history=history)

    async def start_transaction(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        request = StartRequest(
            station_id=station_id,
            connector_id=p["connectorId"],
            id_tag=p["idTag"],
            meter_start=p["meterStart"],
            start_time=p["timestamp"],
            started_at=parse_timestamp(p["timestamp"]),
            reservation_id=p.get("reservationId"),
        )
        if not await self._admitted(station_id):
            return await self._start_not_admitted(request, now)
        id_tag_info = await self._id_tag_info(station_id, request.id_tag)
        transaction_id, created = await self.store.transactions.start(request, now)
        if created:
            self.bus.publish(
                events.TransactionStarted(
                    station_id,
                    request.connector_id,
                    transaction_id,
                    request.id_tag,
                    request.meter_start,
                    now,
                )
            )
        else:
            log.info("%s: repeated StartTransaction → same id %s", station_id, transaction_id)
        return {"transactionId": transaction_id, "idTagInfo": id_tag_info}

    async def _start_not_admitted(self, request: StartRequest, now: float) -> dict[str, Any]:
        """Record the start (bounded) and answer Invalid: the station should stop charging."""
        limit = self.settings.pending_row_limit
        kept = await self.store.transactions.latest(request.station_id, limit=limit)
        repeated = any(
            (t.connector_id, t.id_tag, t.start_time, t.meter_start)
            == (request.connector_id, request.id_tag, request.start_time, request.meter_start)
            for t in kept
        )
        if not repeated and len(kept) >= limit:
            raise self._not_admitted(request.station_id, "transactions")
        transaction_id, _ = await self.store.transactions.start(request, now)
        log.info(
            "%s: not accepted; StartTransaction recorded as %s and answered Invalid",
            request.station_id,
            transaction_id,
        )
        return {"transactionId": transaction_id, "idTagInfo": dict(NOT_ADMITTED)}

    async def stop_transaction(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        tx_id = _tx_id(p["transactionId"])
        request = StopRequest(
            station_id=station_id,
            transaction_id=tx_id if tx_id is not None else -1,
            meter_stop=p["meterStop"],
            stop_time=p["timestamp"],
            stopped_at=parse_timestamp(p["timestamp"]),
            reason=p.get("reason"),
            id_tag=p.get("idTag"),
        )
        admitted = await self._admitted(station_id)
        row = await self.store.transactions.get(request.transaction_id)
        if row is not None and row.station_id != station_id:
            row = None
        if row is None and not admitted and await self._room("unmatched_stops", station_id) <= 0:
            raise self._not_admitted(station_id, "unknown StopTransactions")
        connector_id = 0 if row is None else row.connector_id
        samples = meter_value_rows(
            station_id, connector_id, tx_id, p.get("transactionData", []), now
        )
        # A repeated stop (the station missed our answer) carries the same transactionData: the
        # first stop stored it before the transaction was closed, so store it only until then.
        if row is None or row.meter_stop is None:
            await self._add_samples(station_id, samples, admitted)
        stopped = await self.store.transactions.stop(request, now)
        if stopped is None:
            log.warning("%s: StopTransaction for unknown id %s recorded", station_id, tx_id)
        elif not admitted:
            log.info("%s: not accepted; StopTransaction %s recorded", station_id, tx_id)
        else:
            self.bus.publish(
                events.TransactionStopped(
                    station_id,
                    request.transaction_id,
                    request.meter_stop,
                    request.reason,
                    now,
                    connector_id=stopped.connector_id,
                )
            )
        response: dict[str, Any] = {}
        if request.id_tag:
            response["idTagInfo"] = (
                await self._id_tag_info(station_id, request.id_tag)
                if admitted
                else dict(NOT_ADMITTED)
            )
        return response

    async def _add_samples(
        self, station_id: str, rows: list[MeterValueRow], admitted: bool
    ) -> None:
        """Store the elements (for a station that is not accepted: up to its bound)."""
        if not admitted and rows:
            room = max(0, await self._room("meter_values", station_id))
            if room < len(rows):
                self._bound_reached(station_id, "meter values")
                rows = rows[:room]
        await self.store.transactions.add_meter_values(rows)

    async def meter_values(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        connector_id = p["connectorId"]
        tx_id = _tx_id(p.get("transactionId"))
        rows = meter_value_rows(station_id, connector_id, tx_id, p["meterValue"], now)
        admitted = await self._admitted(station_id)
        await self._add_samples(station_id, rows, admitted)
        if rows and admitted:
            last = rows[-1].sampled_at
            values = {
                (sv.get("measurand") or ENERGY_REGISTER, sv.get("phase")): numeric
                for meter_value in p["meterValue"]
                if meter_value["timestamp"] == last
                for sv in meter_value["sampledValue"]
                if (numeric := sampled_number(sv)) is not None
            }
            self.bus.publish(
                events.MeterSampled(station_id, connector_id, tx_id, parse_timestamp(last), values)
            )
        return {}

    async def _record_event(self, station_id: str, kind: str, p: dict[str, Any]) -> bool:
        """Keep the message; for a station that is not accepted only up to its bound, trimmed.

        Returns whether the station is accepted."""
        if await self._admitted(station_id):
            await self.store.events.record(station_id, kind, p, self.clock())
            return True
        if await self._room("station_events", station_id) > 0:
            await self.store.events.record(station_id, kind, trimmed(p), self.clock())
        else:
            self._bound_reached(station_id, "events")
        return False

    async def data_transfer(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        if await self._record_event(station_id, "DataTransfer", p):
            return {"status": "Accepted"}
        return {"status": "Rejected"}

    async def diagnostics_status(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        await self._record_event(station_id, "DiagnosticsStatusNotification", p)
        return {}

    async def firmware_status(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        await self._record_event(station_id, "FirmwareStatusNotification", p)
        return {}

    async def security_event(self, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
        await self._record_event(station_id, "SecurityEventNotification", p)
        return {}
