"""The simulated station's outgoing messages as outbox jobs (`csms.sim.connection.Job`).

Each builder takes what the message says, already decided by the station, and returns the job
that sends it; none of them reads or changes the station. The StartTransaction exchange stays in
`SimStation.start_session`, since its answer changes the station while it is in flight.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import call

from csms.sim.connection import Job
from csms.sim.model import Sample, StatusChanged, StopInfo
from csms.sim.smart_charging import format_time

log = logging.getLogger(__name__)


@dataclass
class TxRecord:
    """A session's transaction as the station sent it; the id arrives with the answer."""

    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: float
    transaction_id: int | None = None
    remote_profile: Mapping[str, Any] | None = None
    reservation_id: int | None = None  # the reservation this session used


def status_notification(
    connector_id: int, status: str, detail: StatusChanged | None, now: Callable[[], float]
) -> Job:
    """A StatusNotification (`detail` adds the error code and info), stamped when it is sent."""

    async def run(cp: Any) -> None:
        await cp.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=detail.error_code if detail else "NoError",
                status=status,
                timestamp=format_time(now()),
                info=detail.info if detail else None,
                vendor_error_code=detail.vendor_error_code if detail else None,
            ),
            suppress=False,
        )

    return Job(f"StatusNotification {connector_id} {status}", run)


def meter_values(sample: Sample, values: list[dict[str, Any]]) -> Job:
    """MeterValues with the sampled `values` of `sample`."""
    meter_value = [{"timestamp": format_time(sample.at), "sampledValue": values}]

    async def run(cp: Any) -> None:
        await cp.call(
            call.MeterValues(
                connector_id=sample.connector_id,
                meter_value=meter_value,
                transaction_id=sample.transaction_id,
            ),
            suppress=False,
        )

    return Job(f"MeterValues {sample.connector_id}", run)


def stop_transaction(station_id: str, record: TxRecord | None, stop: StopInfo) -> Job:
    """StopTransaction for a session that ended; nothing is sent if it never got an id."""
    connector_id = stop.connector_id

    async def run(cp: Any) -> None:
        if record is None or record.transaction_id is None:
            log.warning("%s: session on %d ended before it got a transaction id",
                        station_id, connector_id)  # fmt: skip
            return
        await cp.call(
            call.StopTransaction(
                meter_stop=stop.meter_stop_wh,
                timestamp=format_time(stop.at),
                transaction_id=record.transaction_id,
                reason=stop.reason,
                id_tag=stop.id_tag,
            ),
            suppress=False,
        )

    return Job(f"StopTransaction {connector_id}", run, persistent=True)
