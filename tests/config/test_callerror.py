"""A station that answers GetConfiguration with a CALLERROR: an ordinary, recorded outcome."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from ocpp.v16 import call

from csms.app import CentralSystem
from tests.support.ocpp_client import library_station


async def test_get_configuration_callerror_is_recorded_without_traceback(
    central_system: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    cs = central_system
    caplog.set_level(logging.INFO)
    failures: list[dict[str, object]] = []

    async def recorded() -> bool:
        rows = await cs.store.events.for_station("CFG-ERR", kind="ConfigurationWorkFailed")
        failures[:] = [json.loads(r.payload) for r in rows]
        return bool(failures)

    # The library's ChargePoint has no GetConfiguration handler: it answers NotImplemented.
    async with library_station(cs.ocpp_url, "CFG-ERR") as cp:
        boot = call.BootNotification(charge_point_vendor="X", charge_point_model="Y")
        assert (await cp.call(boot)).status == "Accepted"
        for _ in range(1500):  # the post-boot snapshot waits boot_delay_s (2 s) first
            if await recorded():
                break
            await asyncio.sleep(0.02)
            await cp.call(call.Heartbeat())
        assert failures and "NotImplemented" in str(failures[0]["error"])
    ours = [r for r in caplog.records if r.name.startswith("csms")]  # not the station's logs
    assert not [r.getMessage() for r in ours if r.exc_info]
    assert any("configuration work stopped" in r.getMessage() for r in caplog.records)
