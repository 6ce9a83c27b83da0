"""Meter health per site: `ok`, `stale` (no valid reading for `timeout_s`), `lost` (longer).

Pure: fed readings, failures and `now`; returns the transitions as events to log, worded like the
station's own notifications (Alfen: "Communication warning for modbus unit 5", then "Communication
error" after 2 minutes, and a "connected" message on recovery).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from csms.meter.reading import MeterReading


class MeterState(StrEnum):
    """What balancing may do with the meter: `ok` trusts it, `stale`/`lost` use the safe current."""

    OK = "ok"
    STALE = "stale"
    LOST = "lost"


@dataclass(frozen=True)
class HealthEvent:
    """A state transition, with the log level and line it should be logged with."""

    at: float
    state: MeterState
    previous: MeterState
    level: int
    message: str


class MeterHealth:
    """Tracks one meter. Starts `stale` (no reading yet) without logging a warning for it."""

    def __init__(self, name: str, timeout_s: float, lost_after_s: float, now: float) -> None:
        if timeout_s <= 0 or lost_after_s < timeout_s:
            raise ValueError("need 0 < timeout_s <= lost_after_s")
        self.name = name
        self.timeout_s = timeout_s
        self.lost_after_s = lost_after_s
        self.state = MeterState.STALE
        self.since = now
        self.last_reading: MeterReading | None = None
        self.last_error: str | None = None
        self.errors = 0
        self._started = now

    def _last_valid(self) -> float:
        return self._started if self.last_reading is None else self.last_reading.at

    def _move(self, state: MeterState, now: float, level: int, message: str) -> list[HealthEvent]:
        previous, self.state, self.since = self.state, state, now
        return [HealthEvent(now, state, previous, level, message)]

    def reading(self, reading: MeterReading, now: float) -> list[HealthEvent]:
        """A valid reading arrived."""
        previous = self.last_reading
        previous_at = self._last_valid()
        self.last_reading = reading
        if self.state is MeterState.OK:
            return []
        if previous is None:
            text = f"Meter {self.name}: first reading received"
        else:
            text = (
                f"Meter {self.name} connected again: readings resume after "
                f"{now - previous_at:.0f} s"
            )
        return self._move(MeterState.OK, now, logging.INFO, text)

    def failure(self, error: str, now: float) -> list[HealthEvent]:
        """A read failed (connection, timeout, invalid value); the state follows from the age."""
        self.last_error = error
        self.errors += 1
        return self.check(now)

    def check(self, now: float) -> list[HealthEvent]:
        """Re-evaluate against the clock; call it regularly, also while no answer comes."""
        age = now - self._last_valid()
        reason = f" (last error: {self.last_error})" if self.last_error else ""
        if age >= self.lost_after_s and self.state is not MeterState.LOST:
            return self._move(
                MeterState.LOST,
                now,
                logging.ERROR,
                f"Communication error for meter {self.name}: no valid reading for {age:.0f} s"
                f"{reason}; the safe current stays in force",
            )
        if age >= self.timeout_s and self.state is MeterState.OK:
            return self._move(
                MeterState.STALE,
                now,
                logging.WARNING,
                f"Communication warning for meter {self.name}: no valid reading for {age:.0f} s"
                f"{reason}; using the safe current",
            )
        return []

    def age(self, now: float) -> float | None:
        """Seconds since the last valid reading, or None before the first one."""
        return None if self.last_reading is None else now - self.last_reading.at

    def next_deadline(self) -> float:
        """The next moment at which `check` could change the state (for a watchdog's sleep)."""
        last = self._last_valid()
        if self.state is MeterState.OK:
            return last + self.timeout_s
        if self.state is MeterState.STALE:
            return last + self.lost_after_s
        return float("inf")

    def snapshot(self, now: float) -> dict[str, object]:
        """A JSON-ready view for `GET /api/v1/sites/{id}`."""
        return {
            "state": self.state.value,
            "since": self.since,
            "age_s": self.age(now),
            "last_reading": None if self.last_reading is None else self.last_reading.as_dict(),
            "last_error": self.last_error,
            "errors": self.errors,
        }
