"""Simulated time: a clock that can run faster than real time, and one shared tick for stations.

Everything time-based in the simulator (heartbeats, MeterValueSampleInterval, the probing minute,
profile validity, energy integration) reads `SimClock.now()`, so a demo can run a day in minutes.
Stations do not run a timer each: they subscribe to the clock's single tick task, which calls every
subscriber with the current simulated time. That keeps hundreds of stations cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

TickHandler = Callable[[float], None]


class SimClock:
    """Simulated epoch seconds advancing at `speed` × real time; `advance()` jumps ahead.

    `tick_s` is the simulated time between ticks; a tick is never more frequent than
    `min_tick_real_s` of real time, so a high speed coarsens the tick instead of burning CPU.
    """

    def __init__(
        self,
        speed: float = 1.0,
        start: float | None = None,
        tick_s: float = 1.0,
        min_tick_real_s: float = 0.05,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self._speed = speed
        self._origin_real = time.monotonic()
        self._origin_sim = time.time() if start is None else start
        self.tick_s = tick_s
        self.min_tick_real_s = min_tick_real_s
        self._subscribers: list[TickHandler] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError("speed must be positive")
        # Re-anchor so that changing speed does not make time jump.
        self._origin_sim = self.now()
        self._origin_real = time.monotonic()
        self._speed = value

    def now(self) -> float:
        """Simulated time in epoch seconds."""
        return self._origin_sim + (time.monotonic() - self._origin_real) * self._speed

    def advance(self, sim_s: float) -> None:
        """Jump `sim_s` simulated seconds ahead (tests skip the probing minute this way)."""
        if sim_s < 0:
            raise ValueError("time does not run backwards")
        self._origin_sim += sim_s
        self._wake.set()

    async def sleep(self, sim_s: float) -> None:
        """Sleep `sim_s` simulated seconds (real time = sim_s / speed)."""
        await asyncio.sleep(max(0.0, sim_s) / self._speed)

    # -- the shared tick ------------------------------------------------------------------------

    def subscribe(self, handler: TickHandler) -> None:
        """Call `handler(now)` on every tick; starts the tick task on the running loop if needed."""
        if handler not in self._subscribers:
            self._subscribers.append(handler)
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-clock-tick")

    def unsubscribe(self, handler: TickHandler) -> None:
        """Stop calling `handler`; the tick task ends when nobody listens any more."""
        if handler in self._subscribers:
            self._subscribers.remove(handler)
        if not self._subscribers:
            self._wake.set()

    def tick_now(self) -> None:
        """Run one tick immediately (after `advance()`, so tests need not wait for the timer)."""
        now = self.now()
        for handler in list(self._subscribers):
            try:
                handler(now)
            except Exception:
                # One broken station must not stop the others' time.
                log.exception("tick handler %r failed", handler)

    async def close(self) -> None:
        """Stop the tick task (subscribers are dropped)."""
        self._subscribers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while self._subscribers:
            self.tick_now()
            interval = max(self.tick_s / self._speed, self.min_tick_real_s)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
