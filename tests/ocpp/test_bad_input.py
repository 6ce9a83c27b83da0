"""Malformed frames get the right CALLERROR (or a refused handshake); nothing else breaks."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import websockets
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from csms.app import CentralSystem
from csms.auth import hash_password
from tests.support.ocpp_client import library_station

BOOT = {"chargePointVendor": "Alfen BV", "chargePointModel": "NG920"}


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _exchange(ws: websockets.ClientConnection, frame: str) -> list[object]:
    await ws.send(frame)
    return json.loads(await ws.recv())


CASES = [
    pytest.param("not json", ("-1", "FormationViolation"), id="non-json"),
    pytest.param('{"a": 1}', ("-1", "FormationViolation"), id="not-an-array"),
    pytest.param('[7, "m1", "Heartbeat", {}]', ("m1", "FormationViolation"), id="bad-type-id"),
    pytest.param('[2, "m2", "FlyToMoon", {}]', ("m2", "NotImplemented"), id="unknown-action"),
    pytest.param('[2, "m3", "Reset", {"type": "Soft"}]', ("m3", "NotImplemented"), id="cs-action"),
    pytest.param(
        '[2, "m4", "BootNotification", {"chargePointVendor": "A"}]',
        ("m4", "OccurenceConstraintViolation"),
        id="missing-field",
    ),
    pytest.param(
        '[2, "m5", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "M"}]',
        ("m5", "TypeConstraintViolation"),
        id="wrong-type",
    ),
    pytest.param(
        '[2, "m6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
        '"status": "Sleeping"}]',
        ("m6", "PropertyConstraintViolation"),
        id="bad-enum",
    ),
    pytest.param(
        '[2, "m7", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, '
        '"timestamp": "yesterday"}]',
        ("m7", "PropertyConstraintViolation"),
        id="bad-timestamp",
    ),
    pytest.param(
        '[2, "m8", "Heartbeat", {"extra": true}]', ("m8", "FormationViolation"), id="extra-field"
    ),
    pytest.param('[2, "m9", "Heartbeat"]', ("m9", "FormationViolation"), id="short-call"),
    # Integers the database cannot hold are a constraint violation, not an InternalError.
    pytest.param(
        '[2, "m10", "StartTransaction", {"connectorId": 1, "idTag": "T", '
        '"meterStart": 9223372036854775808, "timestamp": "2024-01-01T00:00:00Z"}]',
        ("m10", "PropertyConstraintViolation"),
        id="meter-start-beyond-int64",
    ),
    pytest.param(
        '[2, "m11", "StatusNotification", {"connectorId": 1099511627776, '
        '"errorCode": "NoError", "status": "Available"}]',
        ("m11", "PropertyConstraintViolation"),
        id="connector-id-beyond-int32",
    ),
    pytest.param(
        '[2, "m12", "StopTransaction", {"transactionId": 1, "meterStop": 1e30, '
        '"timestamp": "2024-01-01T00:00:00Z"}]',
        ("m12", "PropertyConstraintViolation"),
        id="meter-stop-huge",
    ),
]


@pytest.mark.parametrize(("frame", "expected"), CASES)
async def test_bad_frames_get_callerror(
    central_system: CentralSystem, frame: str, expected: tuple[str, str]
) -> None:
    cs = central_system
    async with (
        library_station(cs.ocpp_url, "GOOD-1") as good,
        websockets.connect(f"{cs.ocpp_url}/BAD-1", subprotocols=["ocpp1.6"]) as bad,
    ):
        reply = await _exchange(bad, frame)
        assert reply[0] == 4
        assert (reply[1], reply[2]) == expected
        # The same socket still works, and so does the other station.
        ok = await _exchange(bad, json.dumps([2, "after", "Heartbeat", {}]))
        assert ok[:2] == [3, "after"]
        assert (await good.call(call.Heartbeat())).current_time


async def test_oversized_frame_closes_only_that_session(central_system: CentralSystem) -> None:
    cs = central_system
    async with library_station(cs.ocpp_url, "GOOD-2") as good:
        async with websockets.connect(
            f"{cs.ocpp_url}/BIG-1", subprotocols=["ocpp1.6"], max_size=None
        ) as big:
            payload = {"vendorId": "x", "data": "y" * (cs.settings.max_frame_bytes + 10)}
            await big.send(json.dumps([2, "b1", "DataTransfer", payload]))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await big.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert (await good.call(call.Heartbeat())).current_time


async def test_handshake_refusals(central_system: CentralSystem) -> None:
    cs = central_system
    await cs.store.stations.create("LOCKED", "accepted", 0)
    await cs.store.stations.set_password_hash("LOCKED", hash_password("correct horse"))
    refusals = [
        ({}, "NOSUB", 400),  # no subprotocol offered
        ({"subprotocols": ["ocpp2.0.1"]}, "NOSUB2", 400),
        ({"subprotocols": ["ocpp1.6"]}, "LOCKED", 401),  # password required
        (
            {"subprotocols": ["ocpp1.6"], "additional_headers": _basic("LOCKED", "wrong pass")},
            "LOCKED",
            401,
        ),
        (
            {"subprotocols": ["ocpp1.6"], "additional_headers": _basic("OTHER", "correct horse")},
            "LOCKED",
            401,
        ),
    ]
    async with library_station(cs.ocpp_url, "GOOD-3") as good:
        for kwargs, station, status in refusals:
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(f"{cs.ocpp_url}/{station}", **kwargs):
                    pass
            assert refused.value.response.status_code == status, (kwargs, station)
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(
                cs.ocpp_url.replace("/ocpp", "/ocpp/a/b"), subprotocols=["ocpp1.6"]
            ):
                pass
        assert refused.value.response.status_code == 404
        # Right password, and the short URL form without the /ocpp prefix.
        short_url = cs.ocpp_url.removesuffix("/ocpp")
        async with library_station(
            short_url, "LOCKED", additional_headers=_basic("LOCKED", "correct horse")
        ) as locked:
            result = await locked.call(
                call.BootNotification(
                    **{"charge_point_vendor": "Alfen BV", "charge_point_model": "NG920"}
                )
            )
            assert result.status == "Accepted"
        assert (await good.call(call.Heartbeat())).current_time


async def test_sampled_value_format_is_accepted_and_stored(central_system: CentralSystem) -> None:
    """`format` (Raw / SignedData) is a sampledValue property, not the JSON-schema keyword."""
    cs = central_system
    async with websockets.connect(f"{cs.ocpp_url}/FMT-1", subprotocols=["ocpp1.6"]) as ws:
        values = [
            {"value": "12.5", "format": "Raw", "measurand": "Current.Import", "unit": "A"},
            {"value": "AbCd==", "format": "SignedData"},
        ]
        frame = [2, "f1", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": "2024-01-01T00:00:00Z", "sampledValue": values}
        ]}]  # fmt: skip
        assert await _exchange(ws, json.dumps(frame)) == [3, "f1", {}]
        bad = [2, "f2", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": "1", "format": "X"}]}
        ]}]  # fmt: skip
        reply = await _exchange(ws, json.dumps(bad))
        assert reply[:3] == [4, "f2", "PropertyConstraintViolation"]
    rows = await cs.store.transactions.meter_values("FMT-1")
    assert [(r.format, r.numeric) for r in rows] == [("Raw", 12.5), ("SignedData", None)]


async def test_password_check_runs_off_the_event_loop(
    central_system: CentralSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scrypt takes ~30 ms; on the loop, a burst of handshakes would stall every station."""
    import threading

    import csms.ocpp.server

    cs = central_system
    await cs.store.stations.create("LOCKED-2", "accepted", 0)
    await cs.store.stations.set_password_hash("LOCKED-2", hash_password("correct horse"))
    threads: list[threading.Thread] = []
    real = csms.ocpp.server.verify_password

    def spy(password: str, stored: str) -> bool:
        threads.append(threading.current_thread())
        return real(password, stored)

    monkeypatch.setattr(csms.ocpp.server, "verify_password", spy)
    headers = _basic("LOCKED-2", "correct horse")
    async with library_station(cs.ocpp_url, "LOCKED-2", additional_headers=headers) as cp:
        assert (await cp.call(call.Heartbeat())).current_time
    assert threads and threading.main_thread() not in threads


def _deep(levels: int) -> str:
    """A JSON value nested `levels` deep: [[[…]]]."""
    return "[" * levels + "]" * levels


def _deep_object(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# Deep nesting in every position of every message type. 1,000 levels parse (orjson stops at
# 1,024) but break repr(), logging and orjson.dumps (254); 5,000 do not even parse.
DEEP_CASES = [
    pytest.param(f'[{_deep(1000)}, "d1", "Heartbeat", {{}}]', "d1", id="type-id"),
    pytest.param(f'[{_deep(5000)}, "d1", "Heartbeat", {{}}]', "-1", id="type-id-beyond-parser"),
    pytest.param(f'[2, {_deep(1000)}, "Heartbeat", {{}}]', "-1", id="unique-id"),
    pytest.param(f'[2, "d2", {_deep(1000)}, {{}}]', "d2", id="action"),
    pytest.param(f'[2, "d3", "Heartbeat", {_deep_object(1000)}]', "d3", id="call-payload"),
    pytest.param(
        f'[2, "d4", "DataTransfer", {{"vendorId": "x", "data": {_deep(300)}}}]',
        "d4",
        id="datatransfer-data",
    ),
    pytest.param(f'[3, "d5", {_deep_object(1000)}]', "d5", id="callresult-payload"),
    pytest.param(f'[4, "d6", {_deep(1000)}, "desc", {{}}]', "d6", id="callerror-code"),
    pytest.param(f'[4, "d7", "GenericError", {_deep(1000)}, {{}}]', "d7", id="callerror-desc"),
    pytest.param(f'[4, "d8", "GenericError", "desc", {_deep(1000)}]', "d8", id="callerror-details"),
    pytest.param(f'[4, "d9", "GenericError", "desc", {_deep(100)}]', "d9", id="details-100"),
    pytest.param('[4, "d10", 5, "desc", {}]', "d10", id="callerror-code-not-a-string"),
]


@pytest.mark.parametrize(("frame", "unique_id"), DEEP_CASES)
async def test_deep_nesting_is_a_formation_violation(
    central_system: CentralSystem, frame: str, unique_id: str
) -> None:
    """It used to raise RecursionError and close the session with 1011."""
    cs = central_system
    async with websockets.connect(f"{cs.ocpp_url}/DEEP-1", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(frame)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[:3] == [4, unique_id, "FormationViolation"]
        ok = await _exchange(ws, json.dumps([2, "after", "Heartbeat", {}]))
        assert ok[:2] == [3, "after"]


async def test_deep_answer_fails_the_pending_call(central_system: CentralSystem) -> None:
    """A CALLRESULT too deep to store is not handed to the caller; it fails at once instead of
    waiting for the response timeout, and the session goes on."""
    from csms.ocpp.errors import CallFailed

    cs = central_system
    async with websockets.connect(f"{cs.ocpp_url}/DEEP-2", subprotocols=["ocpp1.6"]) as ws:
        assert (await _exchange(ws, json.dumps([2, "hi", "Heartbeat", {}])))[0] == 3
        pending = asyncio.create_task(cs.registry.call("DEEP-2", "GetConfiguration", {}))
        request = json.loads(await ws.recv())
        reply = await _exchange(ws, f'[3, "{request[1]}", {{"configurationKey": {_deep(500)}}}]')
        assert reply[:3] == [4, request[1], "FormationViolation"]
        with pytest.raises(CallFailed, match="nested"):
            await asyncio.wait_for(pending, 5)
        assert (await _exchange(ws, json.dumps([2, "after", "Heartbeat", {}])))[:2] == [3, "after"]
