"""The long-running meter task of one site: source → validated readings → health, logs, metrics.

`MeterPoller.run()` is meant for the central system's TaskGroup. It keeps one connection to the
meter, reconnects with backoff and jitter, feeds `MeterHealth` (ok / stale / lost, logged like the
station's notifications) and calls `on_reading` with every valid reading. Cancel it to stop; the
connection is closed on the way out.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from csms.meter import metrics
from csms.meter.backoff import Backoff
from csms.meter.config import MeterSettings
from csms.meter.health import HealthEvent, MeterHealth, MeterState
from csms.meter.modbus import MeterUnreachable, quiet_pymodbus
from csms.meter.reading import MeterReading

if TYPE_CHECKING:
    from csms.meter.sources import MeterSource

log = logging.getLogger(__name__)

# The watchdog re-checks health at least this often, even if a deadline seems far away (the
# injected clock need not run at wall-clock speed).
MAX_WATCHDOG_SLEEP_S = 1.0


class MeterPoller:
    """Reads one site's grid meter for as long as `run()` runs."""

    def __init__(
        self,
        settings: MeterSettings,
        on_reading: Callable[[MeterReading], None],
        clock: Callable[[], float] = time.time,
        *,
        site_id: str = "site",
        meter_timeout_s: float = 10.0,
        lost_after_s: float = 120.0,
        on_state_change: Callable[[MeterState], None] | None = None,
        rng: random.Random | None = None,
        source: MeterSource | None = None,
    ) -> None:
        self.settings = settings
        self.on_reading = on_reading
        self.on_state_change = on_state_change
        self.clock = clock
        self.site_id = site_id
        self.health = MeterHealth(
            f"{site_id} ({settings.describe()})", meter_timeout_s, lost_after_s, clock()
        )
        self.backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s, rng)
        self.source = source
        self.connects = 0
        self._last_logged_error: str | None = None
        metrics.record_state(site_id, self.health.state)
        metrics.track_age(site_id, lambda: self.health.age(self.clock()))

    @property
    def state(self) -> MeterState:
        """The meter's health right now."""
        return self.health.state

    def _publish(self, events: list[HealthEvent]) -> None:
        for event in events:
            log.log(event.level, "%s", event.message)
            metrics.record_state(self.site_id, event.state)
            if self.on_state_change is not None:
                self.on_state_change(event.state)

    def _accept(self, reading: MeterReading) -> None:
        self._last_logged_error = None
        self.backoff.reset()
        metrics.record_reading(self.site_id, reading)
        self._publish(self.health.reading(reading, self.clock()))
        self.on_reading(reading)

    def _reject(self, reason: str) -> None:
        metrics.record_error(self.site_id)
        # One line per new kind of failure; repeats every poll would bury the log.
        level = logging.WARNING if reason != self._last_logged_error else logging.DEBUG
        log.log(level, "meter of site %s: %s", self.site_id, reason)
        self._last_logged_error = reason
        self._publish(self.health.failure(reason, self.clock()))

    async def _watchdog(self) -> None:
        tick = min(MAX_WATCHDOG_SLEEP_S, self.settings.poll_interval_s)
        while True:
            wait = self.health.next_deadline() - self.clock()
            await asyncio.sleep(min(max(wait, 0.01), tick))
            self._publish(self.health.check(self.clock()))

    async def _connect_loop(self, source: MeterSource) -> None:
        while True:
            self.connects += 1
            try:
                await source.run(self._accept, self._reject)
            except MeterUnreachable as exc:
                self._reject(str(exc))
            except OSError as exc:  # a network error a source did not translate
                self._reject(f"{source.description}: {exc}")
            # A cancel that a library's wait_for swallowed (Python 3.11) while the connection
            # failed would otherwise be lost here, and the cancelled poller retry for ever.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            await asyncio.sleep(self.backoff.next_delay())

    async def run(self) -> None:
        """Run until cancelled (returns at once for meter type `none`)."""
        if self.settings.type == "none":
            return
        quiet_pymodbus()
        source = self.source
        if source is None:
            # Here, not at the top: the DSMR parsers cost ~0.1 s of every start-up, and only
            # sites with a P1 meter need them (benchmarks/startup.py).
            from csms.meter.sources import make_source

            source = make_source(self.settings, self.clock)
        log.info("meter of site %s: reading %s", self.site_id, source.description)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._watchdog(), name=f"meter-watchdog-{self.site_id}")
            tasks.create_task(self._connect_loop(source), name=f"meter-{self.site_id}")
