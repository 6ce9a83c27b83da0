"""Admission: station id rules, look-alikes, registration limits, and what a Pending station gets.

Pure rules are table-tested; the handshake and the Pending answers run end to end against the
in-process central system with real websockets (the Pending case on SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from csms import events
from csms.app import running_central_system
from csms.ocpp.admission import (
    Refusal,
    TokenBucket,
    look_alike_groups,
    look_alike_key,
    look_alikes,
    registration_refusal,
)
from csms.ocpp.handlers import trimmed
from csms.ocpp.server import station_id_from_path
from csms.settings import Settings, SettingsError, load_settings
from csms.station_ids import station_id_problem
from tests.support.databases import make_settings

T0 = "2026-11-21T10:00:00Z"
BOOT = {"chargePointVendor": "Alfen BV", "chargePointModel": "NG920"}


# -- pure rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("station_id", "problem"),
    [
        ("ALF-0001", None),
        ("ACE0123456", None),
        ("a b", None),  # inner spaces are printable ASCII
        ("x" * 48, None),
        ("", "empty"),
        ("x" * 49, "longer than 48"),
        (" ALF-1", "leading or trailing whitespace"),
        ("ALF-1 ", "leading or trailing whitespace"),
        ("ALF-1\t", "leading or trailing whitespace"),
        ("ALF\x001", "printable ASCII"),
        ("ALF\x7f1", "printable ASCII"),
        ("ALF-é", "printable ASCII"),
        ("ALF-\u0410", "printable ASCII"),  # Cyrillic A
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
    ],
)
def test_station_id_rules(station_id: str, problem: str | None) -> None:
    found = station_id_problem(station_id)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ocpp/ALF-1", "ALF-1"),
        ("/ALF-1", "ALF-1"),
        ("/ocpp/ALF-1?x=1", "ALF-1"),
        ("/ocpp/A%20B", "A B"),
        ("/ocpp/%20ALF", " ALF"),  # decoded here; refused by station_id_problem
        ("/ocpp", None),  # the bare prefix is not a station called "ocpp"
        ("/ocpp/", None),
        ("/ocpp?x=1", None),
        ("/", None),
        ("/ocpp/a/b", None),
        ("/a/b", None),
    ],
)
def test_station_id_from_path(path: str, expected: str | None) -> None:
    assert station_id_from_path(path, "/ocpp") == expected


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ("ALF-0001", "alf-0001", True),
        ("ALF-0001", "ALF-OOO1", True),
        ("ALF-0001", "ALF 0001", False),  # a space is not a separator
        ("ALF-0001", "ALF- 0001", True),  # … but whitespace is ignored
        ("ALF-0001", "ALF_0001", True),
        ("STATION-1", "STATI0N-l", True),
        ("ALF-0001", "ALF-0002", False),
        ("ALF-0001", "ALF-00001", False),
    ],
)
def test_look_alike_key(a: str, b: str, alike: bool) -> None:
    assert (look_alike_key(a) == look_alike_key(b)) is alike


def test_look_alikes_and_groups() -> None:
    known = ["ALF-0001", "ALF-0002", "alf-OOO1", "ALF_0001"]
    assert look_alikes("ALF-0001", known) == ["ALF_0001", "alf-OOO1"]
    assert look_alikes("ALF-0002", known) == []
    groups = look_alike_groups(known)
    assert groups["alf-OOO1"] == ["ALF-0001", "ALF_0001"]
    assert "ALF-0002" not in groups


def test_token_bucket() -> None:
    bucket = TokenBucket(rate_per_s=0.5, burst=2)
    assert bucket.take(100.0) and bucket.take(100.0)
    assert not bucket.take(100.0)
    assert bucket.retry_after(100.0) == pytest.approx(2.0)
    assert not bucket.take(101.0)  # half a token
    assert bucket.take(102.0)
    assert not bucket.take(102.0)
    assert bucket.take(1000.0) and bucket.take(1000.0)  # refilled to the burst, not beyond
    assert not bucket.take(1000.0)


@pytest.mark.parametrize(
    ("policy", "tokens", "pending", "expected"),
    [
        ("accept", 0, 10**6, None),
        ("reject", 5, 0, 403),
        ("pending", 5, 0, None),
        ("pending", 5, 3, 503),  # max 3 waiting for approval
        ("pending", 0, 0, 429),
    ],
)
def test_registration_refusal(policy: str, tokens: int, pending: int, expected: int | None) -> None:
    bucket = TokenBucket(rate_per_s=1 / 60, burst=5)
    for _ in range(5 - tokens):
        assert bucket.take(0.0)
    refusal = registration_refusal(policy, bucket, 0.0, pending, 3)
    assert (refusal.status if refusal else None) == expected
    if expected == 429:
        assert isinstance(refusal, Refusal) and refusal.retry_after_s == pytest.approx(60)


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        ({"vendorId": "X", "data": "short"}, {"vendorId": "X", "data": "short"}),
        ({"vendorId": "X", "data": "y" * 1000}, {"vendorId": "X", "data": "y" * 1000}),
        (
            {"vendorId": "X", "data": "y" * 1001},
            {"vendorId": "X", "data": "y" * 1000, "dataLength": 1001},
        ),
        ({"status": "Idle", "n": 5}, {"status": "Idle", "n": 5}),
    ],
)
def test_trimmed_payload_of_a_station_not_accepted(
    payload: dict[str, Any], kept: dict[str, Any]
) -> None:
    assert trimmed(payload) == kept


def test_settings_refuse_invalid_site_station_ids() -> None:
    with pytest.raises(SettingsError, match="stations"):
        load_settings(None, env={}, sites=[{"id": "home", "stations": [{"id": "ALF 1 "}]}])
    settings = Settings.model_validate({"sites": [{"id": "home", "stations": [{"id": "ALF-1"}]}]})
    assert settings.sites[0].stations[0].id == "ALF-1"


# -- the handshake ------------------------------------------------------------------------------
async def _refused(url: str, **kwargs: Any) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, subprotocols=["ocpp1.6"], **kwargs):
            pass
    return info.value


async def test_handshake_refuses_bad_ids_and_duplicate_authorization(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3")
    async with running_central_system(settings) as cs:
        root = cs.ocpp_url.removesuffix("/ocpp")
        assert (await _refused(cs.ocpp_url)).response.status_code == 404
        assert (await _refused(cs.ocpp_url + "/")).response.status_code == 404
        for bad in ("%20ALF-1", "ALF-1%20", "ALF%091", "A%C3%A9", "x" * 49):
            refused = await _refused(f"{cs.ocpp_url}/{bad}")
            assert refused.response.status_code == 400, bad
        basic = "Basic " + base64.b64encode(b"ST-AUTH:secret-password").decode()
        caplog.set_level(logging.WARNING)
        refused = await _refused(
            f"{cs.ocpp_url}/ST-AUTH",
            additional_headers=[("Authorization", basic), ("Authorization", basic)],
        )
        assert refused.response.status_code == 400
        assert b"more than one Authorization header" in refused.response.body
        assert not [r for r in caplog.records if r.exc_info]
        # None of them was registered; the valid forms still work.
        assert await cs.store.stations.ids() == []
        async with websockets.connect(f"{root}/ALF-1", subprotocols=["ocpp1.6"]):
            pass
        assert await cs.store.stations.ids() == ["ALF-1"]
        # A station registered before the rules were this strict still connects.
        await cs.store.stations.create("L" * 60, "accepted", cs.clock())
        async with websockets.connect(f"{cs.ocpp_url}/{'L' * 60}", subprotocols=["ocpp1.6"]):
            pass
        async with httpx.AsyncClient(base_url=cs.api_url) as client:
            for bad in ("ALF-é", "A" * 49, "a b"):
                added = await client.post("/api/v1/stations", json={"id": bad})
                assert added.status_code == 422, bad
            assert (await client.post("/api/v1/stations", json={"id": "ALF-2"})).status_code == 201


async def test_new_ids_are_rate_limited_and_capped(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3",
        unknown_stations="pending",
        pending_registrations_burst=3,
        pending_registrations_per_minute=0.001,
        max_pending_stations=100,
    )
    async with running_central_system(settings) as cs:
        await cs.store.stations.create("KNOWN-1", "accepted", cs.clock())
        for i in range(3):
            async with websockets.connect(f"{cs.ocpp_url}/NEW-{i}", subprotocols=["ocpp1.6"]):
                pass
        refused = await _refused(f"{cs.ocpp_url}/NEW-3")
        assert refused.response.status_code == 429
        assert int(refused.response.headers["Retry-After"]) >= 1
        # Known stations (and the ones already waiting) are not limited.
        for known in ("KNOWN-1", "NEW-0"):
            async with websockets.connect(f"{cs.ocpp_url}/{known}", subprotocols=["ocpp1.6"]):
                pass
        assert len(await cs.store.stations.ids()) == 4

    capped = make_settings(
        f"sqlite:///{tmp_path}/capped.sqlite3", unknown_stations="pending", max_pending_stations=2
    )
    async with running_central_system(capped) as cs:
        for name in ("P-1", "P-2"):
            async with websockets.connect(f"{cs.ocpp_url}/{name}", subprotocols=["ocpp1.6"]):
                pass
        assert (await _refused(f"{cs.ocpp_url}/P-3")).response.status_code == 503
        await cs.store.stations.set_status("P-1", "accepted")  # the operator approves one
        async with websockets.connect(f"{cs.ocpp_url}/P-3", subprotocols=["ocpp1.6"]):
            pass
        assert await cs.store.stations.count_pending() == 2


async def test_flood_of_new_ids_creates_bounded_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The field report: 2,000 connections with new ids made 2,000 rows. Now the burst and the
    cap bound them, every refusal is an HTTP answer, and the log gets a few lines, not one per
    refusal."""
    caplog.set_level(logging.WARNING, logger="csms.ocpp.server")
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3",
        unknown_stations="pending",
        pending_registrations_burst=20,
        pending_registrations_per_minute=1,
    )
    async with running_central_system(settings) as cs:

        async def attempt(i: int) -> int:
            try:
                async with websockets.connect(
                    f"{cs.ocpp_url}/FLOOD-{i}", subprotocols=["ocpp1.6"], open_timeout=60
                ):
                    return 101
            except InvalidStatus as exc:
                return exc.response.status_code

        codes = await asyncio.gather(*(attempt(i) for i in range(200)))
        assert set(codes) <= {101, 429}
        assert codes.count(101) <= 21  # the burst (plus at most one refill)
        assert len(await cs.store.stations.ids()) == codes.count(101)
        refusals = [r for r in caplog.records if "refused unknown station" in r.getMessage()]
        assert codes.count(429) >= 150 and 1 <= len(refusals) <= 10


async def test_look_alike_id_is_warned_and_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite3", unknown_stations="pending")
    async with running_central_system(settings) as cs:
        await cs.store.stations.create("ALF-0001", "accepted", cs.clock())
        caplog.set_level(logging.WARNING, logger="csms.ocpp.server")
        async with websockets.connect(f"{cs.ocpp_url}/alf-OOO1", subprotocols=["ocpp1.6"]):
            pass
        warnings = [r.getMessage() for r in caplog.records if "looks like" in r.getMessage()]
        assert warnings and "'ALF-0001'" in warnings[0]
        async with httpx.AsyncClient(base_url=cs.api_url) as client:
            shown = (await client.get("/api/v1/stations/alf-OOO1")).json()
            assert shown["look_alike"] == ["ALF-0001"]
            listed = {
                s["id"]: s["look_alike"] for s in (await client.get("/api/v1/stations")).json()
            }
            assert listed == {"ALF-0001": ["alf-OOO1"], "alf-OOO1": ["ALF-0001"]}


# -- a Pending station --------------------------------------------------------------------------
class RawStation:
    """Sends CALLs on a plain websocket and returns the whole reply frame.

    CALLs from the central system (its configuration snapshot once the station is approved) are
    kept in `received` and left unanswered: on a loaded machine one may arrive between a CALL of
    ours and its reply."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.n = 0
        self.received: list[list[Any]] = []

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        self.n += 1
        uid = f"m{self.n}"
        await self.ws.send(json.dumps([2, uid, action, payload]))
        while (reply := json.loads(await self.ws.recv()))[0] == 2:
            self.received.append(reply)
        assert reply[1] == uid
        return reply

    async def result(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await self.call(action, payload)
        assert reply[0] == 3, reply
        return reply[2]


def _meter_values(tx: int | None, n: int) -> dict[str, Any]:
    values = [
        {
            "timestamp": T0,
            "sampledValue": [
                {"value": str(n), "measurand": "Current.Import", "phase": p, "unit": "A"}
                for p in ("L1", "L2", "L3")
            ],
        }
    ]
    payload: dict[str, Any] = {"connectorId": 1, "meterValue": values}
    if tx is not None:
        payload["transactionId"] = tx
    return payload


async def test_pending_station_gets_no_service_and_bounded_storage(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 5
    caplog.set_level(logging.WARNING, logger="csms.ocpp.handlers")
    settings = make_settings(database_url, unknown_stations="pending", pending_row_limit=limit)
    async with running_central_system(settings) as cs:
        queue = cs.bus.subscribe()
        async with websockets.connect(f"{cs.ocpp_url}/PEND-1", subprotocols=["ocpp1.6"]) as ws:
            st = RawStation(ws)
            assert (await st.result("BootNotification", BOOT))["status"] == "Pending"
            assert "currentTime" in await st.result("Heartbeat", {})
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}
            assert await st.result("StatusNotification", status) == {}
            auth = await st.result("Authorize", {"idTag": "TAG1"})
            assert auth == {"idTagInfo": {"status": "Invalid"}}
            start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 100, "timestamp": T0}
            started = await st.result("StartTransaction", start)
            assert started["idTagInfo"] == {"status": "Invalid"}
            tx = started["transactionId"]
            assert (await st.result("StartTransaction", start))["transactionId"] == tx
            for n in range(20):  # 60 sampled values
                assert await st.result("MeterValues", _meter_values(tx, n)) == {}
            big = {"vendorId": "Alfen BV", "messageId": "blob", "data": "x" * 60_000}
            for _ in range(10):
                assert (await st.result("DataTransfer", big)) == {"status": "Rejected"}
            for n in range(20):
                await st.result("StatusNotification", {**status, "connectorId": 100 + n})
            # More transactions than the bound: refused with a CALLERROR, so the station keeps
            # (and retries) them: nothing acknowledged is lost.
            answers = []
            for n in range(limit + 2):
                reply = await st.call("StartTransaction", {**start, "meterStart": 200 + n})
                answers.append(reply[0])
            assert answers.count(3) == limit - 1 and answers[-1] == 4
            refused = await st.call("StartTransaction", {**start, "meterStart": 999})
            assert refused[0] == 4 and refused[2] == "SecurityError"
            # The retried first start still gets its id back.
            assert (await st.result("StartTransaction", start))["transactionId"] == tx
            stop = {"transactionId": tx, "meterStop": 700, "timestamp": T0, "idTag": "TAG1"}
            stopped = await st.result("StopTransaction", stop)
            assert stopped == {"idTagInfo": {"status": "Invalid"}}
            for n in range(limit + 1):
                reply = await st.call(
                    "StopTransaction",
                    {"transactionId": 50_000 + n, "meterStop": 1, "timestamp": T0},
                )
                assert reply[0] == (3 if n < limit else 4)
            assert "currentTime" in await st.result("Heartbeat", {})  # still connected

            # A row per meterValue element: `limit` elements of three sampled values each.
            rows = await cs.store.transactions.meter_values("PEND-1", tx)
            assert len(rows) == 3 * limit
            kept = await cs.store.events.for_station("PEND-1")
            assert len(kept) == limit
            payload = json.loads(kept[0].payload)
            assert len(payload["data"]) == 1000 and payload["dataLength"] == 60_000
            assert len(await cs.store.stations.connectors("PEND-1")) == limit
            assert len(await cs.store.stations.status_history("PEND-1", limit=1000)) == limit
            assert len(await cs.store.transactions.latest("PEND-1", limit=1000)) == limit
            assert len(await cs.store.transactions.unmatched_stops("PEND-1")) == limit
            row = await cs.store.transactions.get(tx)
            assert row is not None and row.meter_stop == 700
            # Each bound is reported once, not once per message of the flood.
            bounds = [r.getMessage() for r in caplog.records if "bound of" in r.getMessage()]
            assert sorted(m.split("bound of 5 ")[1].split(" is")[0] for m in bounds) == [
                "connectors",
                "events",
                "meter values",
                "transactions",
                "unknown StopTransactions",
            ]

            assert st.received == []  # pending: the central system sent it nothing at all
            # Approved: the same session gets full service at its next message.
            await cs.store.stations.set_status("PEND-1", "accepted")
            auth = await st.result("Authorize", {"idTag": "TAG1"})
            assert auth == {"idTagInfo": {"status": "Accepted"}}
            assert (await st.result("DataTransfer", big)) == {"status": "Accepted"}
            after = {**start, "meterStart": 5000}
            assert (await st.result("StartTransaction", after))["idTagInfo"]["status"] == (
                "Accepted"
            )
        seen = set()
        while not queue.empty():
            event = queue.get_nowait()
            seen.add(type(event))
        assert events.ConnectorStatusChanged in seen  # status is allowed while Pending
        assert events.MeterSampled not in seen
        # Only the start after the approval is a transaction the rest of the system acts on.
        assert events.TransactionStopped not in seen
        assert events.TransactionStarted in seen
