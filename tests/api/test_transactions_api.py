"""The energy of a running session in the transactions API (issue 10, item 18)."""

from __future__ import annotations

import httpx
from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue

from csms.app import CentralSystem
from tests.support.ocpp_client import LibraryStation, library_station

T0 = "2026-11-21T10:00:00Z"
ALFEN_NO_TRANSACTION = 2**63 - 1


async def _register(
    cp: LibraryStation,
    value: str,
    *,
    connector_id: int = 1,
    transaction_id: int | None = None,
    unit: str = "Wh",
    phase: str | None = None,
) -> None:
    sampled = SampledValue(
        value=value, measurand="Energy.Active.Import.Register", unit=unit, phase=phase
    )
    await cp.call(
        call.MeterValues(
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_value=[MeterValue(timestamp=T0, sampled_value=[sampled])],
        ),
        skip_schema_validation=transaction_id == ALFEN_NO_TRANSACTION,
    )


async def test_running_session_energy_is_latest_register_minus_meter_start(
    central_system_any_db: CentralSystem,
) -> None:
    cs = central_system_any_db
    async with (
        library_station(cs.ocpp_url, "ALF-E") as cp,
        httpx.AsyncClient(base_url=cs.api_url) as client,
    ):

        async def energy() -> int | None:
            answer = await client.get(f"/api/v1/transactions/{tx}")
            assert answer.status_code == 200, answer.text
            listed = (await client.get("/api/v1/stations/ALF-E/transactions")).json()
            assert listed[0]["energy_wh"] == answer.json()["energy_wh"]
            value: int | None = answer.json()["energy_wh"]
            return value

        await _register(cp, "900")  # before the session: not its energy
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="T", meter_start=1000, timestamp=T0)
        )
        tx = started.transaction_id
        assert await energy() is None  # no reading yet
        await _register(cp, "1500")  # without transactionId, on its connector
        assert await energy() == 500
        await _register(cp, "1.6", transaction_id=tx, unit="kWh")
        assert await energy() == 600
        await _register(cp, "9999", transaction_id=tx, phase="L1")  # one phase, not the outlet
        await _register(cp, "5000", connector_id=2)  # another connector
        assert await energy() == 600
        await _register(cp, "1700", transaction_id=ALFEN_NO_TRANSACTION)
        assert await energy() == 700
        await cp.call(call.StopTransaction(meter_stop=1800, timestamp=T0, transaction_id=tx))
        assert await energy() == 800  # meterStop − meterStart once stopped
