"""Stations: list, show, register with a password, approve or reject."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from csms import events
from csms.api.deps import ApiContext, Ctx, not_found
from csms.auth import hash_password
from csms.ocpp.admission import look_alike_groups, look_alikes
from csms.ocpp.errors import CallFailed
from csms.station_ids import StationId
from csms.storage.records import ConnectorRecord, StationRecord

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/stations", tags=["stations"])


class Connector(BaseModel):
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_error_code: str | None
    updated_at: float


class Station(BaseModel):
    id: str
    status: str = Field(description="registration: pending, accepted or rejected")
    online: bool
    last_seen: float | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    boot_at: float | None
    has_password: bool
    connectors: list[Connector] = []
    look_alike: list[str] = Field(
        default=[], description="other station ids differing only by case, spaces or 0/O, 1/l…"
    )


class NewStation(BaseModel):
    id: StationId = Field(pattern=r"^[^/\\\s]+$")
    password: str | None = Field(default=None, min_length=8, max_length=40)
    approve: bool = True


class Password(BaseModel):
    password: str | None = Field(min_length=8, max_length=40)


def _connector(record: ConnectorRecord) -> Connector:
    return Connector(
        connector_id=record.connector_id,
        status=record.status,
        error_code=record.error_code,
        info=record.info,
        vendor_error_code=record.vendor_error_code,
        updated_at=record.updated_at,
    )


def _station(ctx: ApiContext, record: StationRecord, connectors: list[ConnectorRecord]) -> Station:
    last_seen = record.last_seen
    session_seen = ctx.stations.last_seen(record.id)
    if session_seen is not None:
        last_seen = max(last_seen or 0, session_seen)
    return Station(
        id=record.id,
        status=record.status,
        online=ctx.stations.is_online(record.id),
        last_seen=last_seen,
        vendor=record.vendor,
        model=record.model,
        serial_number=record.serial_number,
        firmware_version=record.firmware_version,
        boot_at=record.boot_at,
        has_password=bool(record.password_hash),
        connectors=[_connector(c) for c in connectors],
    )


@router.get("", response_model=list[Station])
async def list_stations(ctx: Ctx) -> list[Station]:
    records = await ctx.records.stations.all()
    similar = look_alike_groups(record.id for record in records)
    stations = [_station(ctx, record, []) for record in records]
    for station in stations:
        station.look_alike = similar.get(station.id, [])
    return stations


@router.post("", response_model=Station, status_code=201)
async def add_station(body: NewStation, ctx: Ctx) -> Station:
    """Register a station ahead of its first connection (optionally with its password)."""
    if await ctx.records.stations.get(body.id) is not None:
        raise HTTPException(409, f"station {body.id} already exists")
    await ctx.records.stations.create(
        body.id, "accepted" if body.approve else "pending", ctx.clock()
    )
    if body.password:
        hashed = await asyncio.to_thread(hash_password, body.password)
        await ctx.records.stations.set_password_hash(body.id, hashed)
    return await show_station(body.id, ctx)


@router.get("/{station_id}", response_model=Station)
async def show_station(station_id: str, ctx: Ctx) -> Station:
    row = await ctx.records.stations.get(station_id)
    if row is None:
        raise not_found(f"station {station_id}")
    station = _station(ctx, row, await ctx.records.stations.connectors(station_id))
    station.look_alike = look_alikes(station_id, await ctx.records.stations.ids())
    return station


@router.put("/{station_id}/password", response_model=Station)
async def set_password(station_id: str, body: Password, ctx: Ctx) -> Station:
    """Set (or with null, remove) the station's HTTP Basic password; stored hashed."""
    hashed = await asyncio.to_thread(hash_password, body.password) if body.password else None
    if not await ctx.records.stations.set_password_hash(station_id, hashed):
        raise not_found(f"station {station_id}")
    return await show_station(station_id, ctx)


async def _rebook(ctx: ApiContext, station_id: str) -> None:
    """Ask an approved, connected station to boot again so it leaves the Pending state."""
    try:
        await ctx.stations.call(
            station_id, "TriggerMessage", {"requestedMessage": "BootNotification"}
        )
    except CallFailed as exc:
        log.info("%s: TriggerMessage BootNotification after approval failed: %s", station_id, exc)


@router.post("/{station_id}/approve", response_model=Station)
async def approve_station(station_id: str, ctx: Ctx) -> Station:
    if not await ctx.records.stations.set_status(station_id, "accepted"):
        raise not_found(f"station {station_id}")
    ctx.bus.publish(events.StationApproved(station_id, ctx.clock()))
    if ctx.stations.is_online(station_id):
        task = asyncio.create_task(_rebook(ctx, station_id))
        ctx.background.add(task)
        task.add_done_callback(ctx.background.discard)
    return await show_station(station_id, ctx)


@router.post("/{station_id}/reject", response_model=Station)
async def reject_station(station_id: str, ctx: Ctx) -> Station:
    if not await ctx.records.stations.set_status(station_id, "rejected"):
        raise not_found(f"station {station_id}")
    await ctx.stations.disconnect(station_id, 1008, "station rejected")
    return await show_station(station_id, ctx)
