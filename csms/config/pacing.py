"""How many configuration snapshots may be in flight at once: an adaptive limit.

After a restart every station reconnects at once and each gets a post-boot snapshot
(GetConfiguration, then a write). A fixed 8 in flight left most of 2,000 stations without theirs
after 90 s, although the server was mostly waiting: a snapshot's time is the station's round trip
and a group commit, not our CPU. The limit grows by one with every snapshot that finished within
`target_s` and shrinks by a quarter when one took longer (additive increase, multiplicative
decrease, as TCP paces a link): when the event loop or the database is saturated, snapshots slow
down and fewer are let through, so heartbeats and control loops keep their time.

A snapshot's own time says little about what others wait for: at 10,000 stations the snapshots
took well under 2 s each while the event loop ran 50 ms late and heartbeats waited 200-400 ms
for their answers. So a snapshot also counts as slow when it ends while the loop is later than
`lag_target_s` (csms/looplag.py): the post-boot reads then take the loop's spare time, not the
stations' (docs/performance.md, "Snapshots paced by the loop's lag").

`next_limit` decides (pure, table-tested); `SnapshotGate` is the asyncio shell that applies it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PacingRule:
    start: float = 8
    floor: float = 2
    ceiling: float = 512
    target_s: float = 2.0
    lag_target_s: float = 0.025
    decrease: float = 0.75


def next_limit(limit: float, took_s: float, lag_s: float, rule: PacingRule) -> float:
    """The in-flight limit after one snapshot that took `took_s` from its start to its store,
    and ended while the event loop ran `lag_s` late."""
    if took_s <= rule.target_s and lag_s <= rule.lag_target_s:
        return min(rule.ceiling, limit + 1)
    return max(rule.floor, limit * rule.decrease)


class SnapshotGate:
    """Lets snapshots through, first come first served, while fewer than the limit are in flight.

    Waiters queue as futures and a finished snapshot wakes only as many as the new limit allows
    (a Condition's notify_all would wake every one of thousands of waiters per snapshot)."""

    def __init__(
        self,
        rule: PacingRule | None = None,
        timer: Callable[[], float] = time.monotonic,
        lag: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """`lag()`: how late the event loop runs now, in seconds (`LoopLag.now`)."""
        self.rule = rule or PacingRule()
        self._lag = lag
        self.limit = self.rule.start
        self.in_flight = 0
        self.peak = 0
        self._timer = timer
        self._waiting: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.in_flight >= int(self.limit) or self._waiting:
            ticket = asyncio.get_running_loop().create_future()
            self._waiting.append(ticket)
            try:
                await ticket  # the slot is counted for us by _admit
            except asyncio.CancelledError:
                if ticket.done() and not ticket.cancelled():
                    self._release(None)  # admitted and cancelled at once: hand it on
                elif ticket in self._waiting:  # a release may have dropped it already
                    self._waiting.remove(ticket)
                raise
        else:
            self._enter()
        start = self._timer()
        try:
            yield
        finally:
            self._release(self._timer() - start)

    def _enter(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def _release(self, took_s: float | None) -> None:
        self.in_flight -= 1
        if took_s is not None:
            self.limit = next_limit(self.limit, took_s, self._lag(), self.rule)
        while self._waiting and self.in_flight < int(self.limit):
            ticket = self._waiting.popleft()
            if not ticket.done():
                self._enter()
                ticket.set_result(None)
