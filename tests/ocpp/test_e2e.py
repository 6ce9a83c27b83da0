"""A real station (the ocpp library's ChargePoint) through a whole session, on both databases."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from csms.app import CentralSystem
from tests.support.ocpp_client import library_station

T0 = "2026-11-21T10:00:00Z"


async def test_station_session_is_stored(central_system_any_db: CentralSystem) -> None:
    cs = central_system_any_db
    events = cs.bus.subscribe()
    async with library_station(cs.ocpp_url, "ALF-E2E") as cp:
        boot = await cp.call(
            call.BootNotification(
                charge_point_vendor="Alfen BV", charge_point_model="NG920", firmware_version="6.5"
            )
        )
        assert boot.status == "Accepted"
        assert boot.interval == cs.settings.heartbeat_interval_s
        await cp.call(
            call.StatusNotification(
                connector_id=1,
                error_code=ChargePointErrorCode.no_error,
                status=ChargePointStatus.preparing,
            )
        )
        auth = await cp.call(call.Authorize(id_tag="TAG1"))
        assert auth.id_tag_info["status"] == "Accepted"
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=T0)
        )
        tx = start.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    MeterValue(
                        timestamp="2026-11-21T10:01:00Z",
                        sampled_value=[
                            SampledValue(
                                value="15.9",
                                measurand="Current.Import",
                                phase="L1",
                                unit="A",
                                context="Sample.Periodic",
                                location="Outlet",
                            ),
                            SampledValue(value="1500", unit="Wh"),
                        ],
                    )
                ],
            )
        )
        await cp.call(call.Heartbeat())
        await cp.call(
            call.StopTransaction(
                meter_stop=8500, timestamp="2026-11-21T11:00:00Z", transaction_id=tx, reason="Local"
            )
        )
        await cp.call(call.DataTransfer(vendor_id="Alfen BV", message_id="x", data="hello"))
        await cp.call(call.FirmwareStatusNotification(status="Idle"))
        await cp.call(call.DiagnosticsStatusNotification(status="Idle"))

    station = await cs.store.stations.get("ALF-E2E")
    assert station is not None
    assert (station.vendor, station.model, station.firmware_version) == (
        "Alfen BV",
        "NG920",
        "6.5",
    )
    connectors = await cs.store.stations.connectors("ALF-E2E")
    assert [(c.connector_id, c.status) for c in connectors] == [(1, "Preparing")]
    row = await cs.store.transactions.get(tx)
    assert row is not None
    assert (row.meter_start, row.meter_stop, row.energy_wh) == (1000, 8500, 7500)
    assert row.stop_reason == "Local"
    values = await cs.store.transactions.meter_values("ALF-E2E", tx)
    current = next(v for v in values if v.measurand == "Current.Import")
    assert (current.value, current.phase, current.unit) == ("15.9", "L1", "A")
    assert (current.context, current.location, current.numeric) == (
        "Sample.Periodic",
        "Outlet",
        15.9,
    )
    default = next(v for v in values if v.unit == "Wh")
    assert default.measurand == "Energy.Active.Import.Register"
    kinds = sorted(e.kind for e in await cs.store.events.for_station("ALF-E2E"))
    assert kinds == ["DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification"]
    assert station.last_heartbeat is not None

    # The registry says offline at once; the disconnect is published after the offline row is
    # stored, so wait for the event itself.
    seen: list[str] = []
    async with asyncio.timeout(10):
        while not seen or seen[-1] != "StationDisconnected":
            seen.append(type(await events.get()).__name__)
    assert not cs.registry.is_online("ALF-E2E")
    assert seen[:2] == ["StationConnected", "StationBooted"]
    assert {"TransactionStarted", "MeterSampled", "TransactionStopped"} <= set(seen)
    assert seen[-1] == "StationDisconnected"


async def test_transactions_idempotent_and_lenient(central_system: CentralSystem) -> None:
    cs = central_system
    async with library_station(cs.ocpp_url, "ALF-TX") as cp:
        first = await cp.call(
            call.StartTransaction(connector_id=2, id_tag="T", meter_start=5, timestamp=T0)
        )
        again = await cp.call(
            call.StartTransaction(connector_id=2, id_tag="T", meter_start=5, timestamp=T0)
        )
        other = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="T", meter_start=5, timestamp=T0)
        )
        assert first.transaction_id == again.transaction_id != other.transaction_id
        # Alfen's MeterValues quirks: transactionId 2^63-1 and context "CurrentMax".
        await cp.call(
            call.MeterValues(
                connector_id=2,
                transaction_id=9223372036854775807,
                meter_value=[
                    MeterValue(
                        timestamp=T0,
                        sampled_value=[
                            SampledValue(
                                value="16.0", measurand="Current.Offered", context="CurrentMax"
                            )
                        ],
                    )
                ],
            ),
            skip_schema_validation=True,  # the library is strict; real Alfens send this
        )
        for tx in (-1, 424242):
            result = await cp.call(
                call.StopTransaction(meter_stop=9, timestamp=T0, transaction_id=tx, id_tag="T")
            )
            assert result.id_tag_info["status"] == "Accepted"
        for _ in range(2):  # a repeated stop is harmless and keeps the first values
            await cp.call(
                call.StopTransaction(
                    meter_stop=50, timestamp=T0, transaction_id=first.transaction_id
                )
            )
        await cp.call(
            call.StopTransaction(meter_stop=99, timestamp=T0, transaction_id=first.transaction_id)
        )
        await cp.call(call.Heartbeat())  # the session survived all of it
    row = await cs.store.transactions.get(first.transaction_id)
    assert row is not None and row.meter_stop == 50 and row.energy_wh == 45
    unmatched = await cs.store.transactions.unmatched_stops("ALF-TX")
    assert sorted(u.transaction_id for u in unmatched) == [-1, 424242]
    alfen = await cs.store.transactions.meter_values("ALF-TX", 9223372036854775807)
    assert alfen[0].context == "CurrentMax"


async def test_repeated_stop_does_not_store_its_transaction_data_twice(
    central_system: CentralSystem,
) -> None:
    """A station that missed our answer sends the same StopTransaction again."""
    cs = central_system
    async with library_station(cs.ocpp_url, "ALF-RESTOP") as cp:
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="T", meter_start=5, timestamp=T0)
        )
        data = [MeterValue(timestamp=T0, sampled_value=[SampledValue(value="42")])]
        stop = call.StopTransaction(
            meter_stop=50, timestamp=T0, transaction_id=start.transaction_id, transaction_data=data
        )
        for _ in range(2):
            await cp.call(stop)
    rows = await cs.store.transactions.meter_values("ALF-RESTOP", start.transaction_id)
    assert [r.value for r in rows] == ["42"]
