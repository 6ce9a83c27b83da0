"""Departures, energy needs and phases (issue 11, items 8 and 9).

- `GET/PUT /api/v1/stations/{id}/connectors/{n}/session`: what is known of the running session
  (departure, energy need, phases, where each came from), what it got and whether it will make
  its departure; PUT tells it.
- `GET /api/v1/sites/{id}/sessions`: the same for every running session of a site.
- `GET/PUT /api/v1/tags/{id_tag}/defaults`: an idTag's usual departure, energy need and phases,
  and the phase count learnt from its last session.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field

from csms.api.deps import ApiContext, Ctx
from csms.charging.interfaces import ChargingControl
from csms.charging.sessions import (
    PlanError,
    SessionPlan,
    SessionView,
    TagDefaults,
    check_time_of_day,
    check_timezone,
    next_time_of_day,
)

router = APIRouter(prefix="/api/v1", tags=["departures"])

IdTag = Annotated[str, Path(min_length=1, max_length=20, description="OCPP 1.6 IdToken")]
ConnectorId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SessionBody(BaseModel):
    """What the driver or operator says about a running session; null = not said."""

    departure: str | None = Field(
        None,
        description="when the EV leaves: an ISO 8601 time with its offset "
        "(2026-12-01T07:30:00+01:00), or a time of day HH:MM in `timezone` (the next one)",
    )
    timezone: str = Field("UTC", description="IANA time zone of an HH:MM departure")
    energy_kwh: float | None = Field(
        None, ge=0, le=1000, description="energy the session should deliver in all (kWh)"
    )
    phases: int | None = Field(None, ge=1, le=3, description="how many phases the EV uses")


class TagDefaultsBody(BaseModel):
    departure: str | None = Field(None, description="usual departure, HH:MM in `timezone`")
    timezone: str = Field("UTC", description="IANA time zone, e.g. Europe/Amsterdam")
    energy_kwh: float | None = Field(None, ge=0, le=1000, description="usual energy need (kWh)")
    phases: int | None = Field(None, ge=1, le=3, description="how many phases its EV uses")


class TagDefaultsOut(TagDefaultsBody):
    id_tag: str
    learned_phases: int | None = Field(description="phases measured in its last session")
    updated_at: float


class Forecast(BaseModel):
    on_track: bool = Field(description="its current limit delivers the rest by the departure")
    needed_a: float | None = Field(description="current per phase needed from now (null: now)")
    expected_kwh: float = Field(description="what the current limit delivers by the departure")


class SessionOut(BaseModel):
    station_id: str
    connector_id: int
    transaction_id: int
    id_tag: str
    started_at: float
    departure_at: float | None = Field(description="epoch seconds")
    departure_from: str | None = Field(description="'session' or 'idTag'")
    energy_kwh: float | None = Field(description="energy need of the session in all")
    energy_from: str | None
    phases: int | None = Field(description="phases as told or learnt (the balancer measures too)")
    phases_from: str | None = Field(description="'session', 'idTag' or 'learnt'")
    delivered_kwh: float
    energy_to_go_kwh: float | None
    limit_a: float | None = Field(description="the limit sent in the last control step")
    forecast: Forecast | None = Field(description="null without a departure and an energy need")


def _out(v: SessionView) -> SessionOut:
    f = v.forecast
    return SessionOut(
        station_id=v.station_id,
        connector_id=v.connector_id,
        transaction_id=v.transaction_id,
        id_tag=v.id_tag,
        started_at=v.started_at,
        departure_at=v.plan.departure_at,
        departure_from=v.plan.departure_from,
        energy_kwh=v.plan.energy_kwh,
        energy_from=v.plan.energy_from,
        phases=v.plan.phases,
        phases_from=v.plan.phases_from,
        delivered_kwh=round(v.delivered_kwh, 3),
        energy_to_go_kwh=None if v.energy_to_go_kwh is None else round(v.energy_to_go_kwh, 3),
        limit_a=v.limit_a,
        forecast=None
        if f is None
        else Forecast(
            on_track=f.on_track,
            needed_a=None if math.isinf(f.needed_a) else round(f.needed_a, 2),
            expected_kwh=round(f.expected_kwh, 3),
        ),
    )


def _charging(ctx: ApiContext) -> ChargingControl:
    if not ctx.charging.site_ids():
        raise HTTPException(404, "smart charging is off: no site is configured")
    return ctx.charging


def _site_of(ctx: ApiContext, station_id: str) -> str:
    site_id = _charging(ctx).site_id_of(station_id)
    if site_id is None:
        raise HTTPException(
            404, f"station {station_id} belongs to no configured site (list it under [[sites]])"
        )
    return site_id


def parse_departure(text: str, timezone: str, now: float) -> float:
    """Epoch seconds from an ISO 8601 time with offset or the next HH:MM in `timezone`."""
    try:
        hhmm = check_time_of_day(text)
    except PlanError:
        hhmm = None
    if hhmm is not None:
        return next_time_of_day(hhmm, check_timezone(timezone), now)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise PlanError(
            f"departure must be HH:MM or an ISO 8601 time with offset, not {text!r}"
        ) from None
    if when.tzinfo is None:
        raise PlanError(f"departure {text!r} needs a UTC offset (e.g. +01:00 or Z)")
    at = when.timestamp()
    if at <= now:
        raise PlanError(f"departure {text} is in the past")
    return at


def _running(ctx: ApiContext, station_id: str, connector_id: int) -> SessionOut:
    site_id = _site_of(ctx, station_id)
    found = ctx.charging.session_views(site_id, [(station_id, connector_id)]) or []
    if not found:
        raise HTTPException(404, f"no transaction runs on {station_id}/{connector_id}")
    return _out(found[0])


@router.get("/stations/{station_id}/connectors/{connector_id}/session", response_model=SessionOut)
async def get_session(station_id: str, connector_id: ConnectorId, ctx: Ctx) -> SessionOut:
    """The running session's departure, energy need and phases (and where each came from),
    what it got so far, and whether its limit gets it there in time."""
    return _running(ctx, station_id, connector_id)


@router.put("/stations/{station_id}/connectors/{connector_id}/session", response_model=SessionOut)
async def put_session(
    station_id: str, connector_id: ConnectorId, body: SessionBody, ctx: Ctx
) -> SessionOut:
    """Tell the running session's departure, energy need and/or phases (replacing what was told
    before; what is not told comes from the idTag's defaults). With a departure and an energy
    need the EV is served first when it would otherwise miss its departure."""
    _site_of(ctx, station_id)
    try:
        departure = (
            None
            if body.departure is None
            else parse_departure(body.departure, body.timezone, ctx.clock())
        )
        plan = SessionPlan(departure, body.energy_kwh, body.phases)
        await ctx.charging.set_session_plan(station_id, connector_id, plan)
    except PlanError as exc:
        status = 404 if str(exc).startswith("no transaction") else 422
        raise HTTPException(status, str(exc)) from None
    return _running(ctx, station_id, connector_id)


@router.get("/sites/{site_id}/sessions", response_model=list[SessionOut])
async def get_site_sessions(site_id: str, ctx: Ctx) -> list[SessionOut]:
    """Every running session of the site with its departure, need and forecast."""
    views = _charging(ctx).session_views(site_id)
    if views is None:
        raise HTTPException(404, f"site {site_id} is not configured")
    return [_out(v) for v in views]


def _tag_out(d: TagDefaults) -> TagDefaultsOut:
    return TagDefaultsOut(
        id_tag=d.id_tag,
        departure=d.departure,
        timezone=d.timezone,
        energy_kwh=d.energy_kwh,
        phases=d.phases,
        learned_phases=d.learned_phases,
        updated_at=d.updated_at,
    )


@router.get("/tags/{id_tag}/defaults", response_model=TagDefaultsOut)
async def get_tag_defaults(id_tag: IdTag, ctx: Ctx) -> TagDefaultsOut:
    """An idTag's usual departure, energy need and phases, and the phases learnt."""
    d = _charging(ctx).tag_defaults(id_tag)
    if d is None:
        raise HTTPException(404, f"nothing is known of idTag {id_tag}")
    return _tag_out(d)


@router.put("/tags/{id_tag}/defaults", response_model=TagDefaultsOut)
async def put_tag_defaults(id_tag: IdTag, body: TagDefaultsBody, ctx: Ctx) -> TagDefaultsOut:
    """Set an idTag's defaults for its sessions (replacing what was told; the phases learnt are
    kept). They apply at once to its running sessions."""
    try:
        told = TagDefaults(id_tag, body.departure, body.timezone, body.energy_kwh, body.phases)
    except PlanError as exc:
        raise HTTPException(422, str(exc)) from None
    return _tag_out(await _charging(ctx).set_tag_defaults(told))
