"""The API's JSON for stations and transactions, field by field and in order, on both databases.

Storage returns typed records; the API turns them into its models with explicit functions. These
tests pin what a client sees, so a renamed record field cannot change the JSON unnoticed.
"""

from __future__ import annotations

import httpx
from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from csms.app import CentralSystem
from tests.support.ocpp_client import library_station

T0 = "2026-11-21T10:00:00Z"
T1 = "2026-11-21T10:01:00Z"
T2 = "2026-11-21T11:00:00Z"


async def _one_session(cs: CentralSystem) -> int:
    """A booted station with connector 1 Charging and one stopped transaction with values."""
    async with library_station(cs.ocpp_url, "API-1") as cp:
        await cp.call(
            call.BootNotification(
                charge_point_vendor="Alfen BV",
                charge_point_model="NG920",
                charge_point_serial_number="ACE0001",
                firmware_version="6.5",
            )
        )
        await cp.call(
            call.StatusNotification(
                connector_id=1,
                error_code=ChargePointErrorCode.no_error,
                status=ChargePointStatus.charging,
                info="plugged",
            )
        )
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=T0)
        )
        tx: int = start.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    MeterValue(
                        timestamp=T1,
                        sampled_value=[
                            SampledValue(
                                value="15.9",
                                measurand="Current.Import",
                                phase="L1",
                                unit="A",
                                context="Sample.Periodic",
                                location="Outlet",
                            )
                        ],
                    )
                ],
            )
        )
        await cp.call(
            call.StopTransaction(meter_stop=8500, timestamp=T2, transaction_id=tx, reason="Local")
        )
    return tx


async def test_station_json(central_system_any_db: CentralSystem) -> None:
    cs = central_system_any_db
    await _one_session(cs)
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        shown = (await client.get("/api/v1/stations/API-1")).json()
        listed = (await client.get("/api/v1/stations")).json()
    assert list(shown) == [
        "id",
        "status",
        "online",
        "last_seen",
        "vendor",
        "model",
        "serial_number",
        "firmware_version",
        "boot_at",
        "has_password",
        "connectors",
        "look_alike",
    ]
    assert isinstance(shown["last_seen"], float) and isinstance(shown["boot_at"], float)
    assert {k: v for k, v in shown.items() if k not in ("last_seen", "boot_at", "online")} == {
        "id": "API-1",
        "status": "accepted",
        "vendor": "Alfen BV",
        "model": "NG920",
        "serial_number": "ACE0001",
        "firmware_version": "6.5",
        "has_password": False,
        "connectors": [
            {
                "connector_id": 1,
                "status": "Charging",
                "error_code": "NoError",
                "info": "plugged",
                "vendor_error_code": None,
                "updated_at": shown["connectors"][0]["updated_at"],
            }
        ],
        "look_alike": [],
    }
    assert isinstance(shown["connectors"][0]["updated_at"], float)
    # The list shows the same station without its connectors. Online state and last seen may
    # have moved on in between: the station's disconnect is still being recorded.
    moving = {"online": listed[0]["online"], "last_seen": listed[0]["last_seen"]}
    assert listed == [{**shown, **moving, "connectors": []}]


async def test_transaction_json(central_system_any_db: CentralSystem) -> None:
    cs = central_system_any_db
    tx = await _one_session(cs)
    expected = {
        "id": tx,
        "station_id": "API-1",
        "connector_id": 1,
        "id_tag": "TAG1",
        "meter_start": 1000,
        "start_time": T0,
        "meter_stop": 8500,
        "stop_time": T2,
        "stop_reason": "Local",
        "closed_by_operator": False,
        "close_reason": None,
        "energy_wh": 7500,
    }
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        shown = (await client.get(f"/api/v1/transactions/{tx}")).json()
        listed = (await client.get("/api/v1/transactions")).json()
        of_station = (await client.get("/api/v1/stations/API-1/transactions")).json()
        values = (await client.get(f"/api/v1/transactions/{tx}/meter-values")).json()
    assert list(shown) == list(expected) and shown == expected
    assert listed == [expected] and of_station == [expected]
    assert values == [
        {
            "connector_id": 1,
            "transaction_id": tx,
            "sampled_at": T1,
            "value": "15.9",
            "measurand": "Current.Import",
            "phase": "L1",
            "unit": "A",
            "context": "Sample.Periodic",
            "location": "Outlet",
        }
    ]
    assert list(values[0]) == [
        "connector_id",
        "transaction_id",
        "sampled_at",
        "value",
        "measurand",
        "phase",
        "unit",
        "context",
        "location",
    ]
