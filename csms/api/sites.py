"""Sites: `GET /api/v1/sites`, `GET /api/v1/sites/{id}` and the site's operator cap."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from csms.api.charging import (
    CapBody,
    CapResult,
    SiteSummary,
    SiteView,
    require_site,
    set_cap,
    site_read,
)
from csms.api.deps import Ctx
from csms.charging.interfaces import LedElsewhere
from csms.charging.views import site_view


class MeterCheckView(BaseModel):
    """The meter plausibility check: with `meter_includes_ev` the meter must show the EVs."""

    enabled: bool = Field(description="meter_includes_ev and a meter: readings are checked")
    alarm: bool = Field(description="the meter does not seem to measure the chargers: safe current")
    raised_at: float | None
    message: str | None
    implausible_readings: int = Field(description="readings in a row below the EVs' draw")
    shortfall_a: list[float | None] = Field(
        description="last reading, per grid phase: EVs' draw − PV export − reading"
    )
    tolerance_a: float
    pv_export_max_a: float


class LeaderView(BaseModel):
    """In a cluster: the node whose loop controls the site, and its fencing epoch."""

    node_id: str
    epoch: int = Field(description="grows at every take-over; profiles carry it (docs/cluster.md)")
    here: bool = Field(description="the node answering leads the site")
    running: bool = Field(description="the site's loop runs on the node answering")


class SiteDetail(SiteView):
    meter_check: MeterCheckView
    leader: LeaderView | None = Field(
        default=None, description="cluster only: which node leads the site (null: none now)"
    )


router = APIRouter(prefix="/api/v1/sites", tags=["smart charging"])


@router.get("", response_model=list[SiteSummary])
async def list_sites(ctx: Ctx) -> list[SiteSummary]:
    """Every configured site with its meter state."""
    now = ctx.clock()
    reads = [ctx.charging.read_site(site_id, now) for site_id in ctx.charging.site_ids()]
    return [
        SiteSummary(
            id=read.site.id,
            grid_limit_a=read.site.grid_limit_a,
            meter_state=str(read.meter_health["state"]),
            safe_mode=None if read.allocation is None else read.allocation.safe_mode,
            stations=[station.id for station in read.stations],
        )
        for read in reads
        if read is not None
    ]


@router.get("/{site_id}", response_model=SiteDetail)
async def get_site(site_id: str, ctx: Ctx) -> dict[str, Any]:
    """Latest meter reading and its health (ok / stale → safe current), the meter plausibility
    alarm, available current per phase, and each connector's allocation, target and binding limit
    with its source; in a cluster, which node leads the site."""
    view = site_view(site_read(ctx, site_id))
    leader = ctx.charging.site_leader(site_id)
    if leader is not None:
        view["leader"] = LeaderView(
            node_id=leader.node_id, epoch=leader.epoch, here=leader.here, running=leader.running
        )
    return view


@router.put("/{site_id}/cap", response_model=CapResult)
async def put_site_cap(site_id: str, body: CapBody, ctx: Ctx) -> CapResult:
    """Cap the total current per phase of the site's EVs (shared fairly); null removes it."""
    require_site(ctx, site_id)
    return await set_cap(ctx, "site", site_id, 0, body.limit_a)


@router.delete("/{site_id}/cap", response_model=CapResult)
async def delete_site_cap(site_id: str, ctx: Ctx) -> CapResult:
    require_site(ctx, site_id)
    return await set_cap(ctx, "site", site_id, 0, None)


class ModeBody(BaseModel):
    mode: Literal["balanced", "pv-surplus"] = Field(
        description="balanced: share the grid connection; pv-surplus: charge from export only"
    )


class ModeResult(BaseModel):
    site_id: str
    mode: str


@router.put("/{site_id}/mode", response_model=ModeResult)
async def put_site_mode(site_id: str, body: ModeBody, ctx: Ctx) -> ModeResult:
    """Switch the site's charging mode from its next control step (until a restart: the
    settings file's `mode` applies at start). In a cluster only the node leading the site can
    (409 names it)."""
    require_site(ctx, site_id)
    try:
        known = ctx.charging.set_mode(site_id, body.mode)
    except LedElsewhere as exc:
        raise HTTPException(409, str(exc)) from exc
    if not known:
        raise HTTPException(404, f"site {site_id} is not configured")
    return ModeResult(site_id=site_id, mode=body.mode)
