"""Jinja filters: how numbers and times read on the console (display only, no arithmetic that
the read models do not already do)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def amps(value: Any, digits: int = 1) -> str:
    """`12.3 A`, or `–` when unknown."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{float(value):.{digits}f} A"


def clock(value: Any) -> str:
    """A Unix time as `HH:MM:SS` UTC, or `–`."""
    if value is None:
        return "–"
    return datetime.fromtimestamp(float(value), UTC).strftime("%H:%M:%S")


def stamp(value: Any) -> str:
    """A Unix time (or ISO text) as `YYYY-MM-DD HH:MM:SS` UTC, or `–`."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value.replace("T", " ")[:19]
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(value: Any, now: float | None = None) -> str:
    """How long ago a Unix time was: `4 s`, `3 min`, `2 h`, `5 d`."""
    if value is None:
        return "never"
    seconds = max(0.0, (time.time() if now is None else now) - float(value))
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def seconds(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f} s"


FILTERS: dict[str, Callable[..., str]] = {
    "amps": amps,
    "clock": clock,
    "stamp": stamp,
    "ago": ago,
    "seconds": seconds,
}
