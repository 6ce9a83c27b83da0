"""Smart charging per station: `GET /api/v1/stations/{id}/charging` and operator caps.

Also holds the response models shared with `csms.api.sites`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from csms.api.deps import ApiContext, Ctx
from csms.charging.interfaces import CapError, ChargingControl
from csms.charging.readmodel import SiteRead, StationRead
from csms.charging.views import station_view

router = APIRouter(prefix="/api/v1/stations", tags=["smart charging"])


class Candidate(BaseModel):
    source: str
    detail: str = ""
    limit_a: float | None


class ConnectorCharging(BaseModel):
    """One connector: what the balancer allocated, the limit sent and what the station applies."""

    station_id: str
    connector_id: int
    status: str | None
    transaction_id: int | None
    measured_a: list[float] | None = Field(description="Current.Import per grid phase")
    phases: list[str] = Field(description="grid phases the EV loads")
    allocation_a: float | None = Field(description="the balancing core's allocation")
    allocation_source: str | None
    allocation_detail: str | None
    target_a: float | None = Field(
        description="the limit sent: the allocation under every limit of the site tree"
    )
    source: str | None = Field(description="the node of the tree that binds, e.g. 'station max'")
    detail: str | None
    candidates: list[Candidate] = Field(
        description="every limit of the tree above the socket (node totals), then the allocation"
    )
    predicted_a: float | None = Field(
        description="what the station will apply: the target under its own limits as it splits "
        "them over its sockets in use (a prediction; it waits ~3 min to give a share back)"
    )
    predicted_source: str | None = Field(description="what binds the prediction")
    accepted_a: float | None = Field(
        description="the limit the station accepted and applies now (or its safe default)"
    )
    composite_a: float | Literal["unknown"] | None = Field(
        description="GetCompositeSchedule, in A whatever unit the station answered in; "
        '"unknown" when it knows no limit (e.g. −1 asked in a unit it does not use); '
        "null before it was asked"
    )
    composite_unit: str | None = Field(description="the unit the station answered in")
    composite_at: float | None
    sent_a: float | None = Field(
        description="the limit the station had accepted when the composite was read"
    )
    agrees: bool | None = Field(
        description="composite (or Current.Offered) within tolerance of the accepted limit; "
        "null while unknown"
    )
    verification: str = Field(
        description="not verified yet, agrees, unknown, mismatch, re-sent, or station does not "
        "agree after N re-sends (then no more re-sends until it agrees or the session ends)"
    )
    mismatch: str | None = Field(
        description="the session's last disagreement, in words (kept after it agrees again)"
    )
    mismatches: int = Field(description="disagreements since the station last agreed")
    offered_a: float | None = Field(description="Current.Offered from its last MeterValues")
    last_status: str | None = Field(description="the station's answer to our last profile")
    failures: int


class SiteCapConnector(BaseModel):
    station_id: str
    connector_id: int
    limit_a: float


class SiteCaps(BaseModel):
    site_a: float | None
    stations: dict[str, float]
    connectors: list[SiteCapConnector]


class SafeSocket(BaseModel):
    connector_id: int
    limit_a: float


class ProfileWrites(BaseModel):
    sent: int = Field(description="SetChargingProfile calls sent")
    accepted: int = Field(description="… accepted: each may be a flash write on the station")


class SiteStation(BaseModel):
    id: str
    method: str | None
    meter_lost: bool
    safe_default_a: float = Field(
        description="its TxDefaultProfile limit on connector 0 (the lowest of its sockets')"
    )
    capabilities_read: bool = Field(
        description="its capabilities were read in its current connection (else no profile yet)"
    )
    safe_sockets: list[SafeSocket] = Field(
        description="each socket's safe default (what it applies while we are silent)"
    )
    profile_writes: ProfileWrites


class MeterHealthView(BaseModel):
    type: str
    state: str = Field(description="ok, stale (safe current) or lost")
    since: float
    age_s: float | None
    last_reading: dict[str, Any] | None
    last_error: str | None
    errors: int


class SiteView(BaseModel):
    id: str
    mode: str
    grid_limit_a: float
    margin_a: float
    phases: int
    safe_current_a: float
    meter_includes_ev: bool
    meter: MeterHealthView
    updated_at: float | None
    safe_mode: bool | None
    safe_reason: str | None
    available_a: list[float | None] | None = Field(description="for our EVs, per grid phase")
    other_load_a: list[float | None] | None
    allocated_a: list[float | None] = Field(description="sum of targets per grid phase")
    safe_default_a: float | None = Field(
        description="the highest TxDefaultProfile limit per socket (each station's is listed)"
    )
    caps: SiteCaps
    stations: list[SiteStation]
    connectors: list[ConnectorCharging]


class SiteSummary(BaseModel):
    id: str
    grid_limit_a: float
    meter_state: str
    safe_mode: bool | None
    stations: list[str]


class InstalledProfile(BaseModel):
    charging_profile_id: int
    purpose: str
    connector_id: int
    stack_level: int
    limit_a: float
    transaction_id: int | None
    valid_to: float | None
    accepted_at: float
    expired: bool


class StationCharging(BaseModel):
    station_id: str
    site_id: str
    method: str | None = Field(description="how limits reach this station, proven by its answers")
    capabilities: dict[str, Any]
    local_limits: dict[str, Any] | None = Field(description="from its latest configuration")
    meter_lost: bool
    safe_default_a: float
    safe_sockets: list[SafeSocket]
    profile_writes: ProfileWrites
    cap_a: float | None
    connectors: list[ConnectorCharging]
    installed_profiles: list[InstalledProfile]


class CapBody(BaseModel):
    limit_a: float | None = Field(
        ge=0, le=10000, description="the cap in A (per phase); null removes it"
    )


class CapResult(BaseModel):
    scope: str
    target: str
    connector_id: int | None = None
    limit_a: float | None


def charging_service(ctx: ApiContext) -> ChargingControl:
    service = ctx.charging
    if not service.site_ids():
        raise HTTPException(404, "smart charging is off: no site is configured")
    return service


def require_site(ctx: ApiContext, site_id: str) -> ChargingControl:
    """404 naming the configured sites unless `site_id` is one of them."""
    service = charging_service(ctx)
    if site_id not in service.site_ids():
        known = ", ".join(service.site_ids())
        raise HTTPException(404, f"site {site_id} not found (configured: {known})")
    return service


def site_read(ctx: ApiContext, site_id: str) -> SiteRead:
    """The site's read model now; 404 naming the configured sites when it is unknown."""
    read = require_site(ctx, site_id).read_site(site_id, ctx.clock())
    if read is None:
        raise HTTPException(404, f"site {site_id} not found")
    return read


def station_read(ctx: ApiContext, station_id: str) -> tuple[SiteRead, StationRead]:
    """The read model of the station's site and of the station; 404 when it is in no site."""
    site_id = charging_service(ctx).site_id_of(station_id)
    read = None if site_id is None else site_read(ctx, site_id)
    station = None if read is None else read.station(station_id)
    if read is None or station is None:
        raise HTTPException(
            404, f"station {station_id} belongs to no configured site (list it under [[sites]])"
        )
    return read, station


def require_station_site(ctx: ApiContext, station_id: str) -> None:
    """404 unless the station belongs to a configured site."""
    if charging_service(ctx).site_id_of(station_id) is None:
        raise HTTPException(
            404, f"station {station_id} belongs to no configured site (list it under [[sites]])"
        )


async def set_cap(
    ctx: ApiContext, scope: str, target: str, connector_id: int, limit_a: float | None
) -> CapResult:
    try:
        await charging_service(ctx).set_cap(scope, target, connector_id, limit_a)
    except CapError as exc:
        raise HTTPException(422, str(exc)) from None
    return CapResult(
        scope=scope,
        target=target,
        connector_id=connector_id if scope == "connector" else None,
        limit_a=limit_a,
    )


@router.get("/{station_id}/charging", response_model=StationCharging)
async def get_station_charging(station_id: str, ctx: Ctx) -> dict[str, Any]:
    """Each connector's target, accepted value, reported composite schedule, binding limit and
    source, the installed profiles and the method the station proved to accept."""
    return station_view(*station_read(ctx, station_id))


@router.put("/{station_id}/charging/cap", response_model=CapResult)
async def put_station_cap(station_id: str, body: CapBody, ctx: Ctx) -> CapResult:
    """Cap the station's total (shared by its charging connectors; also installed on the station
    as a ChargePointMaxProfile). `limit_a: null` removes it."""
    require_station_site(ctx, station_id)
    return await set_cap(ctx, "station", station_id, 0, body.limit_a)


@router.delete("/{station_id}/charging/cap", response_model=CapResult)
async def delete_station_cap(station_id: str, ctx: Ctx) -> CapResult:
    require_station_site(ctx, station_id)
    return await set_cap(ctx, "station", station_id, 0, None)


@router.put("/{station_id}/charging/connectors/{connector_id}/cap", response_model=CapResult)
async def put_connector_cap(
    station_id: str, connector_id: int, body: CapBody, ctx: Ctx
) -> CapResult:
    """Cap one connector. `limit_a: null` removes it."""
    require_station_site(ctx, station_id)
    return await set_cap(ctx, "connector", station_id, connector_id, body.limit_a)


@router.delete("/{station_id}/charging/connectors/{connector_id}/cap", response_model=CapResult)
async def delete_connector_cap(station_id: str, connector_id: int, ctx: Ctx) -> CapResult:
    require_station_site(ctx, station_id)
    return await set_cap(ctx, "connector", station_id, connector_id, None)
