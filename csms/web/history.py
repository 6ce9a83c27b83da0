"""The last hour of each site for the console's chart, sampled from the site read model.

A point is taken from `csms.charging.views.site_view` (the same dict `GET /api/v1/sites/{id}`
answers), so the chart shows exactly what the API shows; nothing is recomputed here beyond
picking the series out of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WINDOW_S = 3600.0
"""How far back the chart reaches."""

SERIES = ("grid L1", "grid L2", "grid L3", "EVs", "household − PV", "available", "limit")
"""The chart's series after the time axis, in order (A)."""


def _top(values: Any) -> float | None:
    known = [v for v in values or [] if v is not None]
    return max(known) if known else None


def _low(values: Any) -> float | None:
    known = [v for v in values or [] if v is not None]
    return min(known) if known else None


def point(view: Mapping[str, Any]) -> tuple[float | None, ...] | None:
    """One chart point (time, then SERIES) from a site view; None before the first reading.

    EVs is the highest per-phase sum of the sockets' targets (`allocated_a`), household − PV
    the highest phase of the load that is not ours (`other_load_a`), available the lowest
    phase of what our EVs may still draw (`available_a`).
    """
    reading = view["meter"].get("last_reading")
    at = view.get("updated_at") or (reading or {}).get("at")
    if at is None:
        return None
    grid = list((reading or {}).get("current_a") or [None, None, None])
    grid += [None] * (3 - len(grid))
    return (
        float(at),
        *grid[:3],
        _top(view.get("allocated_a")),
        _top(view.get("other_load_a")),
        _low(view.get("available_a")),
        float(view["grid_limit_a"]) - float(view["margin_a"]),
    )


@dataclass
class SiteHistory:
    """Chart points of one site, oldest first, at most `WINDOW_S` old."""

    points: deque[tuple[float | None, ...]]

    @classmethod
    def empty(cls) -> SiteHistory:
        return cls(deque())

    def add(self, view: Mapping[str, Any]) -> tuple[float | None, ...] | None:
        """Append the view's point unless it repeats the last one; the point added or None."""
        p = point(view)
        if p is None or (self.points and self.points[-1][0] == p[0]):
            return None
        self.points.append(p)
        newest = p[0] or 0.0
        while self.points and (self.points[0][0] or 0.0) < newest - WINDOW_S:
            self.points.popleft()
        return p

    def columns(self) -> list[list[float | None]]:
        """uPlot's data layout: one list per series, the times first."""
        width = 1 + len(SERIES)
        return [[p[i] for p in self.points] for i in range(width)]
