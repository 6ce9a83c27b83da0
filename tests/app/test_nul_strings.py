"""U+0000 in a string: refused at the edges (OCPP CALLERROR, API 422) and by the storage itself,
on both engines, without disturbing anyone else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from csms.app import CentralSystem
from csms.ocpp import errors
from csms.ocpp.validation import nul_path, validate_request
from csms.storage import Database, Stmt
from csms.storage.database import UnstorableText

START = {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": "2026-11-21T10:00:00Z"}
METER = {
    "connectorId": 1,
    "meterValue": [
        {
            "timestamp": "2026-11-21T10:00:10Z",
            "sampledValue": [{"value": "16", "measurand": "Current.Import", "unit": "A"}],
        }
    ],
}


def _with(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**payload, **changes}


NUL_CASES = [
    pytest.param("StartTransaction", _with(START, idTag="T\x00G"), "idTag", id="id-tag"),
    pytest.param(
        "StartTransaction", _with(START, timestamp="2026-11-21T10:00:00Z\x00"), "timestamp", id="ts"
    ),
    pytest.param(
        "MeterValues",
        _with(
            METER,
            meterValue=[
                {"timestamp": "2026-11-21T10:00:10Z", "sampledValue": [{"value": "1"}]},
                {"timestamp": "2026-11-21T10:00:20Z", "sampledValue": [{"value": "1\x00"}]},
            ],
        ),
        "meterValue[1].sampledValue[0].value",
        id="nested-meter-value",
    ),
    pytest.param(
        "DataTransfer", {"vendorId": "Alfen BV", "data": "\x00"}, "data", id="data-transfer"
    ),
    pytest.param(
        "BootNotification",
        {"chargePointVendor": "Alfen BV", "chargePointModel": "NG920\x00"},
        "chargePointModel",
        id="boot",
    ),
]


@pytest.mark.parametrize(("action", "payload", "field"), NUL_CASES)
def test_nul_anywhere_in_a_payload_is_a_property_constraint_violation(
    action: str, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.OcppCallError) as refused:
        validate_request(action, payload)
    assert refused.value.code == errors.PROPERTY_CONSTRAINT_VIOLATION
    assert refused.value.details == {"field": field}
    assert "U+0000" in refused.value.description


def test_text_that_only_looks_like_an_escaped_nul_is_accepted() -> None:
    validate_request("DataTransfer", {"vendorId": "Alfen BV", "data": "\\u0000 \\x00"})
    validate_request("StartTransaction", START)


def test_nul_path_finds_keys_and_list_items() -> None:
    assert nul_path({"a": [{"b\x00": 1}]}) == "a[0].b\x00"
    assert nul_path(["x", "y\x00"]) == "[1]"
    assert nul_path("\x00") == "payload"
    assert nul_path({"a": [1, 2.5, None, True, {"b": "c"}]}) is None


async def test_storage_refuses_nul_on_every_engine_and_fails_only_that_write(
    db: Database,
) -> None:
    await db.write(Stmt("CREATE TABLE n (v TEXT)"))
    outcome = await asyncio.gather(
        db.write(Stmt("INSERT INTO n (v) VALUES ($1)", ("before",))),
        db.write(Stmt("INSERT INTO n (v) VALUES ($1)", ("a\x00b",))),
        db.write(Stmt("INSERT INTO n (v) VALUES ($1)", [("ok",), ("x\x00",)], many=True)),
        db.write(Stmt("INSERT INTO n (v) VALUES ($1)", ("after",))),
        return_exceptions=True,
    )
    assert [type(o) for o in outcome] == [list, UnstorableText, UnstorableText, list]
    rows = await db.fetch("SELECT v FROM n ORDER BY v")
    assert [r["v"] for r in rows] == ["after", "before"]
    with pytest.raises(UnstorableText):
        await db.fetch("SELECT v FROM n WHERE v = $1", "a\x00")
    with pytest.raises(UnstorableText):
        await db.fetchrow("SELECT v FROM n WHERE v = $1", "a\x00")


async def _call(ws: websockets.ClientConnection, uid: str, action: str, payload: Any) -> list[Any]:
    await ws.send(json.dumps([2, uid, action, payload]))
    reply: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert reply[1] == uid
    return reply


async def test_a_nul_start_is_refused_while_another_station_stores_its_meter_values(
    central_system_any_db: CentralSystem,
) -> None:
    cs = central_system_any_db
    url = cs.ocpp_url
    async with (
        websockets.connect(f"{url}/NUL-1", subprotocols=["ocpp1.6"]) as bad,
        websockets.connect(f"{url}/GOOD-1", subprotocols=["ocpp1.6"]) as good,
    ):

        async def meter_values() -> list[list[Any]]:
            return [await _call(good, f"m{i}", "MeterValues", METER) for i in range(5)]

        refused, stored = await asyncio.gather(
            _call(bad, "s1", "StartTransaction", _with(START, idTag="T\x00G")), meter_values()
        )
        # Each station's frames are answered in order, whatever the other one does.
        assert refused[:3] == [4, "s1", "PropertyConstraintViolation"]
        assert refused[4] == {"field": "idTag"}
        assert [reply[0] for reply in stored] == [3] * 5
        # Both sessions live on; the refused station can start properly.
        assert (await _call(bad, "h1", "Heartbeat", {}))[0] == 3
        assert (await _call(good, "h2", "Heartbeat", {}))[0] == 3
        started = await _call(bad, "s2", "StartTransaction", START)
        assert started[0] == 3 and started[2]["idTagInfo"]["status"] == "Accepted"
    assert len(await cs.store.transactions.meter_values("GOOD-1")) == 5
    assert [t.id_tag for t in await cs.store.transactions.latest("NUL-1")] == ["TAG"]


async def test_api_put_configuration_with_nul_is_a_422(
    central_system_any_db: CentralSystem,
) -> None:
    cs = central_system_any_db
    await cs.store.stations.create("CFG-1", "accepted", 0)
    async with httpx.AsyncClient(base_url=cs.api_url) as client:
        base = "/api/v1/stations/CFG-1/configuration"
        in_value = await client.put(f"{base}/HeartbeatInterval", json={"value": "60\x00"})
        in_key = await client.put(f"{base}/Heart%00beat", json={"value": "60", "force": True})
        in_station = await client.put(
            "/api/v1/stations/CFG%001/configuration/HeartbeatInterval", json={"value": "60"}
        )
        # Nothing of it was stored: the station has no change at all.
        changes = await client.get(f"{base}/changes")
    assert in_value.status_code == 422 and "U+0000" in in_value.text
    assert in_key.status_code == 422 and "U+0000" in in_key.text
    assert in_station.status_code == 422 and "U+0000" in in_station.text
    assert changes.status_code == 200 and changes.json() == []
