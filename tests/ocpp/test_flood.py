"""One station flooding cannot starve the others: its frames are paced to its rate, an abusive
flooder is closed (1008), and its rejections do not flood the log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from pathlib import Path

import pytest
import websockets

from csms.app import CentralSystem, running_central_system
from csms.ocpp.ratelimit import RepeatFilter, TokenBucket
from csms.ocpp.session import ABUSE_LIMIT
from tests.support.databases import make_settings
from tests.support.fixtures_sim import eventually
from tests.support.ocpp_client import raw_station

JUNK = json.dumps([2, "j", "Heartbeat", {"not": "allowed"}])  # schema-invalid, like the field case


# (name, rate, burst, times of the takes, expected waits)
BUCKET_CASES = [
    ("burst at once", 10, 3, [0, 0, 0], [0, 0, 0]),
    ("then paced at the rate", 10, 2, [0, 0, 0], [0, 0, 0.1]),
    ("a paced caller that waited gets the next slot", 10, 1, [0, 0, 0.1], [0, 0.1, 0.1]),
    ("refills while quiet", 10, 2, [0, 0, 0.5, 0.5], [0, 0, 0, 0]),
    ("never more than the burst saved up", 10, 2, [0, 100, 100, 100], [0, 0, 0, 0.1]),
]


@pytest.mark.parametrize(
    ("rate", "burst", "times", "waits"),
    [c[1:] for c in BUCKET_CASES],
    ids=[c[0] for c in BUCKET_CASES],
)
def test_token_bucket(rate: float, burst: int, times: list[float], waits: list[float]) -> None:
    bucket = TokenBucket(rate, burst, now=0)
    assert [round(bucket.take(t), 6) for t in times] == waits


def test_repeat_filter_logs_first_then_a_count_per_interval() -> None:
    f = RepeatFilter(interval_s=10)
    assert [f.admit(t) for t in (0, 1, 2, 9.9)] == [0, None, None, None]
    assert f.admit(10) == 3  # "3 more suppressed"
    assert f.admit(11) is None
    assert f.pending() == 1


async def _flood(ws: websockets.ClientConnection, frames: int) -> int:
    """Send junk as fast as the socket takes it; the number sent before the socket closed."""
    sent = 0
    with contextlib.suppress(websockets.ConnectionClosed):
        for _ in range(frames):
            await ws.send(JUNK)
            sent += 1
    return sent


async def _drain(ws: websockets.ClientConnection) -> int:
    received = 0
    with contextlib.suppress(websockets.ConnectionClosed):
        async for _ in ws:
            received += 1
    return received


async def test_flooder_is_closed_and_others_keep_their_latency(
    central_system: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    cs = central_system
    caplog.set_level(logging.INFO)
    async with raw_station(cs.ocpp_url, "CALM-1") as calm:
        await eventually(lambda: cs.registry.is_online("CALM-1"))
        flooder = await websockets.connect(f"{cs.ocpp_url}/FLOOD-1", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        flood = asyncio.create_task(_flood(flooder, 50_000))
        replies = asyncio.create_task(_drain(flooder))
        latencies = []
        for _ in range(40):
            began = time.perf_counter()
            answer = await calm.send_call("Heartbeat", {})
            latencies.append(time.perf_counter() - began)
            assert answer[0] == 3
            await asyncio.sleep(0.05)
        await asyncio.wait_for(flood, 60)
        answered = await asyncio.wait_for(replies, 60)
        # Closed for abuse after its burst and ABUSE_LIMIT refused frames over the rate; the rest
        # of what it sent was never even read.
        assert flooder.close_code == 1008
        least = cs.settings.message_burst + ABUSE_LIMIT
        assert least <= answered < 2 * least
        # Generous bounds: the field case was 5.2 s median; without a flood it is milliseconds.
        assert statistics.median(latencies) < 1.0
        assert max(latencies) < 5.0
    records = [r for r in caplog.records if r.name.startswith("csms.ocpp")]
    flood_lines = [r for r in records if "FLOOD-1" in r.getMessage()]
    assert len(flood_lines) <= 10, [r.getMessage() for r in flood_lines]
    assert any("1008" in r.getMessage() for r in flood_lines)


async def test_fast_honest_station_is_paced_not_refused(tmp_path: Path) -> None:
    """One CALL in flight at full speed (an offline queue being flushed) past the burst: every
    message is answered with a CALLRESULT, none refused, the station is only slowed down."""
    settings = make_settings(
        f"sqlite:///{tmp_path}/db.sqlite3", message_rate_per_s=10, message_burst=5
    )
    async with (
        running_central_system(settings) as cs,
        raw_station(cs.ocpp_url, "FLUSH-1") as station,
    ):
        for i in range(50):
            answer = await station.send_call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": str(i)},
            )
            assert answer[0] == 3, answer
        session = cs.registry.get("FLUSH-1")
        assert session is not None and not session.closed.is_set()
        assert session.frames_paced >= 1 and session.frames_refused == 0


async def test_flooder_that_never_reads_is_still_closed(central_system: CentralSystem) -> None:
    """Our close frame may sit unread behind its own unread answers: the close is bounded."""
    cs = central_system
    flooder = await websockets.connect(f"{cs.ocpp_url}/FLOOD-2", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    await eventually(lambda: cs.registry.is_online("FLOOD-2"))
    flooder.transport.pause_reading()
    flood = asyncio.create_task(_flood(flooder, 100_000))
    # Well under ping interval + timeout (40 s), which would also end it, by the keepalive.
    await eventually(lambda: not cs.registry.is_online("FLOOD-2"), within_s=30)
    flood.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await flood
    flooder.transport.abort()
