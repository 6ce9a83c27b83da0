"""Prometheus metrics of the grid meters, in the default registry (served by the API's `/metrics`).

Every metric has a `site` label. The reading age is computed when scraped, so a meter that went
silent shows a growing age even though nothing is being recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Enum, Gauge

from csms.meter.health import MeterState
from csms.meter.reading import MeterReading

PHASES = ("L1", "L2", "L3")

CURRENT = Gauge(
    "csms_meter_current_amperes",
    "Signed grid current per phase from the last valid reading (+ import, - export)",
    ["site", "phase"],
)
POWER = Gauge(
    "csms_meter_power_watts",
    "Signed active power per phase from the last valid reading, where the meter has it",
    ["site", "phase"],
)
READING_AGE = Gauge(
    "csms_meter_reading_age_seconds",
    "Seconds since the last valid meter reading (NaN before the first one)",
    ["site"],
)
HEALTH = Enum(
    "csms_meter_health",
    "Meter health: ok, stale (safe current in force) or lost (longer outage)",
    ["site"],
    states=[s.value for s in MeterState],
)
READ_ERRORS = Counter(
    "csms_meter_read_errors",
    "Failed meter reads (connection, timeout, protocol error or rejected value)",
    ["site"],
)
READINGS = Counter("csms_meter_readings", "Valid meter readings received", ["site"])


def record_reading(site: str, reading: MeterReading) -> None:
    """Publish a valid reading's values."""
    READINGS.labels(site).inc()
    for phase, value in zip(PHASES, reading.current_a, strict=True):
        CURRENT.labels(site, phase).set(value)
    if reading.power_w is not None:
        for phase, value in zip(PHASES, reading.power_w, strict=True):
            POWER.labels(site, phase).set(value)


def record_error(site: str) -> None:
    """Count a failed read."""
    READ_ERRORS.labels(site).inc()


def record_state(site: str, state: MeterState) -> None:
    """Publish the health state."""
    HEALTH.labels(site).state(state.value)


def track_age(site: str, age: Callable[[], float | None]) -> None:
    """Make the age gauge call `age()` at scrape time (None → NaN)."""

    def value() -> float:
        seconds = age()
        return float("nan") if seconds is None else seconds

    READING_AGE.labels(site).set_function(value)


IMPLAUSIBLE = Gauge(
    "csms_meter_implausible",
    "1 while the grid meter reads less than the site's EVs draw (meter_includes_ev, but the meter "
    "does not seem to measure the chargers): the safe current is in force",
    ["site"],
)
IMPLAUSIBLE_ALARMS = Counter(
    "csms_meter_implausible_alarms",
    "Times the meter plausibility alarm went up",
    ["site"],
)


def record_plausibility(site: str, alarm: bool, raised: bool) -> None:
    """Publish the plausibility alarm's state; `raised`: it went up with this reading."""
    IMPLAUSIBLE.labels(site).set(1.0 if alarm else 0.0)
    if raised:
        IMPLAUSIBLE_ALARMS.labels(site).inc()
