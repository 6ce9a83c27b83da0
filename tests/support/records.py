"""Storage records for tests that do not go through a database: every field set, overridable."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from csms.storage.records import ConnectorRecord, TransactionRecord

_TRANSACTION = TransactionRecord(
    id=1,
    station_id="S1",
    connector_id=1,
    id_tag="TAG",
    meter_start=0,
    start_time="2026-01-01T00:00:00Z",
    started_at=0.0,
    reservation_id=None,
    meter_stop=None,
    stop_time=None,
    stopped_at=None,
    stop_reason=None,
    stop_id_tag=None,
    created_at=0.0,
)

_CONNECTOR = ConnectorRecord(
    station_id="S1",
    connector_id=1,
    status="Available",
    error_code="NoError",
    info=None,
    vendor_id=None,
    vendor_error_code=None,
    station_time=None,
    updated_at=0.0,
)


def transaction_record(**fields: Any) -> TransactionRecord:
    """A running transaction of station S1, connector 1, with `fields` changed."""
    return replace(_TRANSACTION, **fields)


def connector_record(**fields: Any) -> ConnectorRecord:
    """Connector 1 of station S1, Available, with `fields` changed."""
    return replace(_CONNECTOR, **fields)
