"""Id tags (RFID cards) and each station's Local Authorization List."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Body, HTTPException, Query, Response
from pydantic import BaseModel, Field

from csms.api.deps import Ctx, not_found
from csms.tags.model import Tag
from csms.tags.service import TagError, TagNotFound, parse_time

router = APIRouter(prefix="/api/v1", tags=["tags"])


class TagIn(BaseModel):
    status: Literal["Accepted", "Blocked", "Expired"] = "Accepted"
    expiry: str | None = Field(None, description="ISO 8601; from then on the tag is Expired")
    parent_id_tag: str | None = Field(None, description="the tag's group (a parent tag)")
    station_id: str | None = Field(None, description="valid only at this station")
    note: str | None = None


class TagOut(BaseModel):
    id_tag: str
    status: str
    expiry: str | None
    parent_id_tag: str | None
    station_id: str | None
    note: str | None
    list_version: int = Field(description="the local-list version of its last change")
    updated_at: float | None


class Decision(BaseModel):
    id_tag: str
    status: str = Field(description="what Authorize answers now (Accepted, Blocked, …)")
    expiry: str | None
    parent_id_tag: str | None


class LocalList(BaseModel):
    station_id: str
    list_version: int = Field(description="our list version")
    station_version: int | None = Field(description="the station's, as last reported")
    sent: str | None = Field(default=None, description="Full, Differential or null")
    status: str


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _out(tag: Tag) -> TagOut:
    return TagOut(
        id_tag=tag.id_tag,
        status=tag.status,
        expiry=_iso(tag.expiry_at),
        parent_id_tag=tag.parent_id_tag,
        station_id=tag.station_id,
        note=tag.note,
        list_version=tag.version,
        updated_at=tag.updated_at,
    )


def _bad(exc: TagError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, TagNotFound) else 422, str(exc))


@router.get(
    "/tags",
    response_model=list[TagOut],
    responses={200: {"content": {"text/csv": {}}, "description": "with format=csv: CSV"}},
)
async def list_tags(
    ctx: Ctx, output: Literal["json", "csv"] = Query("json", alias="format")
) -> list[TagOut] | Response:
    """Every tag; `format=csv` gives the columns `csms tags import` reads."""
    tags = await ctx.tags.tags()
    if output == "csv":
        return Response(ctx.tags.export_csv(tags), media_type="text/csv")
    return [_out(t) for t in tags]


@router.post("/tags/import", response_model=list[TagOut])
async def import_tags(ctx: Ctx, body: str = Body(media_type="text/csv")) -> list[TagOut]:
    """Add or replace the tags of a CSV (header `id_tag,status,expiry,parent_id_tag,station_id,
    note`; only id_tag is required); all or nothing."""
    try:
        return [_out(t) for t in await ctx.tags.put(ctx.tags.parse_csv(body))]
    except TagError as exc:
        raise _bad(exc) from None


@router.get("/tags/{id_tag}", response_model=TagOut)
async def show_tag(id_tag: str, ctx: Ctx) -> TagOut:
    try:
        return _out(await ctx.tags.get(id_tag))
    except TagError as exc:
        raise _bad(exc) from None


@router.get("/tags/{id_tag}/authorize", response_model=Decision)
async def check_tag(id_tag: str, ctx: Ctx, station_id: str | None = None) -> Decision:
    """What Authorize would answer for the tag now (at `station_id`, if given)."""
    info = await ctx.tags.decide(station_id, id_tag)
    return Decision(
        id_tag=id_tag,
        status=info.status,
        expiry=_iso(info.expiry_at),
        parent_id_tag=info.parent_id_tag,
    )


@router.put("/tags/{id_tag}", response_model=TagOut)
async def put_tag(id_tag: str, body: TagIn, ctx: Ctx) -> TagOut:
    """Add or replace a tag; every online station's local list follows."""
    try:
        tag = Tag(
            id_tag=id_tag,
            status=body.status,
            expiry_at=None if body.expiry is None else parse_time(body.expiry),
            parent_id_tag=body.parent_id_tag,
            station_id=body.station_id,
            note=body.note,
        )
        return _out((await ctx.tags.put([tag]))[0])
    except TagError as exc:
        raise _bad(exc) from None


async def _status(ctx: Ctx, id_tag: str, status: str) -> TagOut:
    try:
        return _out(await ctx.tags.set_status(id_tag, status))
    except TagError as exc:
        raise _bad(exc) from None


@router.post("/tags/{id_tag}/block", response_model=TagOut)
async def block_tag(id_tag: str, ctx: Ctx) -> TagOut:
    return await _status(ctx, id_tag, "Blocked")


@router.post("/tags/{id_tag}/unblock", response_model=TagOut)
async def unblock_tag(id_tag: str, ctx: Ctx) -> TagOut:
    return await _status(ctx, id_tag, "Accepted")


@router.delete("/tags/{id_tag}", status_code=204)
async def remove_tag(id_tag: str, ctx: Ctx) -> None:
    try:
        await ctx.tags.remove(id_tag)
    except TagError as exc:
        raise _bad(exc) from None


@router.post("/stations/{station_id}/local-list/sync", response_model=LocalList)
async def sync_local_list(station_id: str, ctx: Ctx) -> LocalList:
    """Bring the station's local list in step now (differential, or full after a mismatch)."""
    if await ctx.records.stations.get(station_id) is None:
        raise not_found(f"station {station_id}")
    if not ctx.stations.is_online(station_id):
        raise HTTPException(409, f"station {station_id} is offline")
    result = await ctx.tags.sync(station_id)
    if result.status not in ("Accepted", "InSync"):
        raise HTTPException(
            409, f"station {station_id} answered {result.status} to the local list update"
        )
    return LocalList(
        station_id=station_id,
        list_version=result.list_version,
        station_version=result.station_version,
        sent=result.sent,
        status=result.status,
    )


@router.get("/stations/{station_id}/local-list", response_model=LocalList)
async def show_local_list(station_id: str, ctx: Ctx) -> LocalList:
    """The station's list version as last reported, against ours."""
    if await ctx.records.stations.get(station_id) is None:
        raise not_found(f"station {station_id}")
    state = await ctx.tags.local_list(station_id)
    ours = await ctx.tags.list_version()
    if state is None:
        return LocalList(station_id=station_id, list_version=ours, station_version=None,
                         status="never synced")  # fmt: skip
    return LocalList(
        station_id=station_id,
        list_version=ours,
        station_version=state.station_version,
        status=state.status,
    )
