"""The event log per station and per site, and the active alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from csms.api.deps import Ctx, not_found
from csms.eventlog.log import KINDS, LogEntry, read_log

router = APIRouter(prefix="/api/v1", tags=["events"])


class Event(BaseModel):
    at: float = Field(description="when the central system received it (epoch seconds)")
    station_id: str
    kind: str = Field(description=f"one of {', '.join(KINDS)}")
    summary: str = Field(description="one readable line (a vendor error code's meaning included)")
    detail: dict[str, Any]


class Alert(BaseModel):
    key: str
    kind: str = Field(
        description="station-offline, connector-faulted, firmware-failed, site-safe-mode"
    )
    message: str
    since: float
    station_id: str | None
    site_id: str | None
    connector_id: int | None


def _since(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(
            422, f"{name}: {text!r} is neither ISO 8601 nor epoch seconds"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _kinds(kind: list[str] | None) -> list[str] | None:
    if not kind:
        return None
    unknown = [k for k in kind if k not in KINDS]
    if unknown:
        raise HTTPException(422, f"unknown kind {unknown[0]!r}; kinds: {', '.join(KINDS)}")
    return kind


def _event(entry: LogEntry) -> Event:
    return Event(
        at=entry.at,
        station_id=entry.station_id,
        kind=entry.kind,
        summary=entry.summary,
        detail=entry.detail,
    )


_SINCE = Query(None, description="from this time (ISO 8601 or epoch seconds)")
_BEFORE = Query(None, description="before this time: page back with the last entry's `at`")
_KIND = Query(None, description="only these kinds (repeat the parameter for several)")
_SITE = Query(None, description="only the stations of this site")


@router.get("/stations/{station_id}/events", response_model=list[Event])
async def station_events(
    station_id: str,
    ctx: Ctx,
    since: str | None = _SINCE,
    before: str | None = _BEFORE,
    kind: list[str] | None = _KIND,
    limit: int = Query(100, ge=1, le=10000),
) -> list[Event]:
    """The station's log, newest first: status history (with errors' meanings), connects,
    disconnects, boots, firmware and diagnostics progress, security events, DataTransfers."""
    if await ctx.records.stations.get(station_id) is None:
        raise not_found(f"station {station_id}")
    entries = await read_log(
        ctx.records.db,
        [station_id],
        _since(since, "since"),
        _since(before, "before"),
        _kinds(kind),
        limit,
    )
    return [_event(e) for e in entries]


@router.get("/events", response_model=list[Event])
async def all_events(
    ctx: Ctx,
    site: str | None = _SITE,
    since: str | None = _SINCE,
    before: str | None = _BEFORE,
    kind: list[str] | None = _KIND,
    limit: int = Query(100, ge=1, le=10000),
) -> list[Event]:
    """Every station's log (or one site's), newest first."""
    stations = None
    if site is not None:
        found = ctx.charging.station_ids_of(site)
        if found is None:
            raise not_found(f"site {site}")
        stations = list(found)
    entries = await read_log(
        ctx.records.db,
        stations,
        _since(since, "since"),
        _since(before, "before"),
        _kinds(kind),
        limit,
    )
    return [_event(e) for e in entries]


@router.get("/alerts", response_model=list[Alert])
async def alerts(ctx: Ctx) -> list[Alert]:
    """The active alerts (evaluated every `alerts.check_interval_s`)."""
    return [
        Alert(
            key=a.key,
            kind=a.kind,
            message=a.message,
            since=a.since,
            station_id=a.station_id,
            site_id=a.site_id,
            connector_id=a.connector_id,
        )
        for a in ctx.alerts.active()
    ]
