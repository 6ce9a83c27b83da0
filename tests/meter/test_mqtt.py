"""DSMR-reader over a real MQTT broker (Mosquitto at 127.0.0.1:1883); required when CI=true."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable

import aiomqtt
import pytest

from csms.meter.config import MeterSettings
from csms.meter.health import MeterState
from csms.meter.poller import MeterPoller
from csms.meter.reading import MeterReading

pytestmark = pytest.mark.mqtt

BROKER = ("127.0.0.1", 1883)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def require_broker() -> None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*BROKER), 3)
    except (OSError, TimeoutError):
        message = f"no MQTT broker at {BROKER[0]}:{BROKER[1]}"
        if IN_CI:
            pytest.fail(message + " (required when CI=true)")
        pytest.skip(message)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


SPLIT = {
    "phase_voltage_l1": "230.0",
    "phase_voltage_l2": "230.0",
    "phase_voltage_l3": "230.0",
    "phase_power_current_l1": "9",
    "phase_currently_delivered_l1": "2.070",
    "phase_currently_returned_l1": "0.000",
    "phase_power_current_l2": "1",
    "phase_currently_delivered_l2": "0.230",
    "phase_currently_returned_l2": "0.000",
    "phase_power_current_l3": "14",
    "phase_currently_delivered_l3": "0.000",
    "phase_currently_returned_l3": "3.220",
}


async def test_dsmr_reader_topics_via_mosquitto() -> None:
    await require_broker()
    prefix = f"csms-test-{uuid.uuid4().hex[:10]}/dsmr"
    settings = MeterSettings(
        type="dsmr-mqtt",
        host=BROKER[0],
        port=BROKER[1],
        topic_prefix=prefix,
        poll_interval_s=0.1,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )
    readings: list[MeterReading] = []
    poller = MeterPoller(settings, readings.append, site_id=f"mqtt-{uuid.uuid4().hex[:6]}")
    task = asyncio.create_task(poller.run())
    try:
        async with aiomqtt.Client(
            *BROKER, identifier=f"csms-test-pub-{uuid.uuid4().hex[:8]}"
        ) as pub:
            # A retained value is old: it must not count as a fresh reading.
            await pub.publish(f"{prefix}/reading/phase_power_current_l1", "99", retain=True)
            # Like DSMR-reader: every few hundred ms a full set of split topics.
            while not readings:
                for name, value in SPLIT.items():
                    await pub.publish(f"{prefix}/reading/{name}", value)
                await asyncio.sleep(0.1)
            first = readings[0]
            assert first.current_a == (9.0, 1.0, -14.0)
            assert first.power_w == (2070.0, 230.0, -3220.0)
            assert first.voltage_v == (230.0, 230.0, 230.0)
            assert poller.state is MeterState.OK

            # The JSON topic carries a whole reading in one message.
            count = len(readings)
            payload = {k: float(v) for k, v in SPLIT.items()} | {
                "phase_power_current_l3": 2.0,
                "phase_currently_returned_l3": 0.0,
                "phase_currently_delivered_l3": 0.46,
            }
            await pub.publish(f"{prefix}/json", json.dumps(payload))
            await wait_until(lambda: len(readings) > count)
            assert readings[-1].current_a == (9.0, 1.0, 2.0)
            await pub.publish(f"{prefix}/reading/phase_power_current_l1", b"", retain=True)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert all(r.current_a[0] != 99.0 for r in readings)


async def test_unreachable_broker_is_a_failure_not_a_crash(unused_tcp_port) -> None:
    settings = MeterSettings(
        type="dsmr-mqtt",
        port=unused_tcp_port,
        timeout_s=0.5,
        reconnect_min_s=0.05,
        reconnect_max_s=0.1,
    )
    poller = MeterPoller(settings, lambda _r: None, site_id="mqtt-down", meter_timeout_s=0.2)
    task = asyncio.create_task(poller.run())
    try:
        await wait_until(lambda: poller.connects >= 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert poller.state is MeterState.STALE
    assert "MQTT broker" in (poller.health.last_error or "")
