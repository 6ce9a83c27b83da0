"""How late the event loop runs, measured: a task sleeps `interval_s` and notes by how much it
overslept.

Everything of one process shares one event loop. When it is late, every station's answer is late
by as much: a Heartbeat's, a StartTransaction's, and the control loop's next limit. Work that can
wait (the post-boot configuration snapshots, csms/config/pacing.py) reads `LoopLag.now()` and lets
fewer through while the loop is late. The samples are on `/metrics` as
`csms_event_loop_lag_seconds`, so an operator sees an overloaded node before its stations do.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import Histogram

LAG = Histogram(
    "csms_event_loop_lag_seconds",
    "How late the event loop ran a timer (sampled every 25 ms)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class LoopLag:
    """`now()`: the largest lag of the latest `window` samples in seconds (0 before the first), so
    one late timer is seen for a while, not only until the next sample; `run()` samples."""

    def __init__(
        self,
        interval_s: float = 0.025,
        window: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._recent: deque[float] = deque(maxlen=window)

    def now(self) -> float:
        return max(self._recent, default=0.0)

    async def run(self) -> None:
        while True:
            start = self._clock()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, self._clock() - start - self.interval_s)
            self._recent.append(lag)
            LAG.observe(lag)
