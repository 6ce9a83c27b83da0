"""`LoopLag` measures how late the event loop runs (csms/looplag.py), on a real loop."""

from __future__ import annotations

import asyncio
import time

from csms.looplag import LAG, LoopLag


def _samples() -> float:
    return next(s.value for s in LAG.collect()[0].samples if s.name.endswith("_count"))


async def test_a_loop_blocked_for_a_while_shows_as_late_and_then_on_time_again() -> None:
    lag = LoopLag(interval_s=0.01, window=8)
    task = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0.05)
        assert lag.now() < 0.4  # (a loaded test machine may be late by some ms, not by 0.5 s)
        counted = _samples()
        asyncio.get_running_loop().call_soon(time.sleep, 0.5)  # a callback that holds the loop
        await asyncio.sleep(0.005)  # the monitor's timer runs after it
        await asyncio.sleep(0.02)  # and a sample or two after it: the late one is still seen
        assert lag.now() >= 0.45
        assert _samples() > counted  # on /metrics as csms_event_loop_lag_seconds
        await asyncio.sleep(0.6)  # eight samples later the late one has left the window
        assert lag.now() < 0.4
    finally:
        task.cancel()
