"""The simulated station's outgoing messages as outbox jobs (csms/sim/messages.py)."""

from __future__ import annotations

from typing import Any

from csms.sim import messages
from csms.sim.model import Sample, StatusChanged, StopInfo


class RecordingCall:
    """Stands in for the `ocpp` ChargePoint: records every CALL a job sends."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def call(self, payload: Any, suppress: bool = True, **_: Any) -> None:
        assert suppress is False  # a CALLERROR must raise, not turn into None
        self.sent.append(payload)


async def test_a_status_is_stamped_when_it_is_sent_not_when_it_was_queued():
    now = [1_700_000_000.0]
    detail = StatusChanged(0, "Faulted", "OtherError", "meter lost", "210")
    job = messages.status_notification(0, "Faulted", detail, lambda: now[0])
    now[0] += 90  # it waited behind other messages
    cp = RecordingCall()
    await job.run(cp)
    [sent] = cp.sent
    assert sent.timestamp == "2023-11-14T22:14:50Z"
    assert (sent.status, sent.error_code, sent.info, sent.vendor_error_code) == (
        "Faulted",
        "OtherError",
        "meter lost",
        "210",
    )
    assert not job.persistent  # statuses do not survive a disconnect


async def test_meter_values_carry_the_sample_time_and_transaction():
    sample = Sample(2, 7, 1_700_000_000.0, (16.0, 0.0, 0.0), 3680.0, 1234.0, 16.0)
    values = [{"value": "1234", "measurand": "Energy.Active.Import.Register"}]
    cp = RecordingCall()
    await messages.meter_values(sample, values).run(cp)
    [sent] = cp.sent
    assert (sent.connector_id, sent.transaction_id) == (2, 7)
    assert sent.meter_value == [{"timestamp": "2023-11-14T22:13:20Z", "sampledValue": values}]


async def test_a_stop_is_persistent_and_skipped_when_the_session_never_got_an_id():
    stop = StopInfo(1, None, 5000, 1_700_000_000.0, "Local", "TAG")
    without_id = messages.TxRecord(1, "TAG", 4000, 1_699_999_000.0)
    cp = RecordingCall()
    job = messages.stop_transaction("ALF-0001", without_id, stop)
    assert job.persistent
    await job.run(cp)
    assert cp.sent == []

    with_id = messages.TxRecord(1, "TAG", 4000, 1_699_999_000.0, transaction_id=42)
    await messages.stop_transaction("ALF-0001", with_id, stop).run(cp)
    [sent] = cp.sent
    assert (sent.transaction_id, sent.meter_stop, sent.reason, sent.id_tag) == (
        42,
        5000,
        "Local",
        "TAG",
    )
