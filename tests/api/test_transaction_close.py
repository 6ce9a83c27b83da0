"""Transactions an operator can fix (issue 12): close a stale one by hand through the CLI,
recorded as such with its reason and its energy up to the latest reading; filters by station,
tag and period."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue

from csms import events
from csms.app import CentralSystem
from csms.cli import main
from tests.support.ocpp_client import library_station

BOOT = call.BootNotification(charge_point_model="m", charge_point_vendor="v")


async def test_close_a_stale_transaction_by_hand(
    central_system: CentralSystem, capsys: pytest.CaptureFixture[str]
) -> None:
    cs = central_system
    async with library_station(cs.ocpp_url, "STALE") as cp:
        await cp.call(BOOT)
        start = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="ANNA", meter_start=1000, timestamp="2026-05-01T08:00:00Z"
            )
        )
        tx_id = start.transaction_id
        sampled = SampledValue(value="4200", measurand="Energy.Active.Import.Register", unit="Wh")
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[MeterValue(timestamp="2026-05-01T09:00:00Z", sampled_value=[sampled])],
            )
        )
    queue = cs.bus.subscribe()
    argv = ["transactions", "close", str(tx_id), "--reason", "station replaced"]
    code = await asyncio.to_thread(main, [*argv, "--api", cs.api_url])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == f"transaction {tx_id} closed by hand: 3200 Wh (station replaced)"
    assert await cs.store.transactions.running("STALE") == []
    # Charging and the when-idle reboot check hear that it ended.
    async with asyncio.timeout(30):
        while not isinstance(event := await queue.get(), events.TransactionStopped):
            pass
    assert (event.station_id, event.transaction_id, event.meter_stop_wh) == ("STALE", tx_id, 4200)

    async with httpx.AsyncClient(base_url=cs.api_url, timeout=60) as client:
        tx = (await client.get(f"/api/v1/transactions/{tx_id}")).json()
        assert tx["closed_by_operator"] and tx["close_reason"] == "station replaced"
        assert tx["meter_stop"] == 4200
        again = await client.post(f"/api/v1/transactions/{tx_id}/close", json={"reason": "x"})
        assert again.status_code == 409 and "already closed" in again.json()["detail"]
        empty = await client.post(f"/api/v1/transactions/{tx_id}/close", json={"reason": ""})
        assert empty.status_code == 422

        for params, expected in (
            ({"station_id": "STALE"}, [tx_id]),
            ({"id_tag": "ANNA"}, [tx_id]),
            ({"id_tag": "BERT"}, []),
            ({"from": "2026-05-01", "to": "2026-05-02"}, [tx_id]),
            ({"from": "2026-05-02"}, []),
        ):
            answer = await client.get("/api/v1/transactions", params=params)
            assert [t["id"] for t in answer.json()] == expected, params
        bad = await client.get("/api/v1/transactions", params={"from": "yesterday"})
        assert bad.status_code == 422 and "ISO 8601" in bad.json()["detail"]
