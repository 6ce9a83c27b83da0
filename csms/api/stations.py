"""Stations: list, show, register with a password, approve or reject."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator

from csms import events
from csms.api.deps import CS, not_found
from csms.app import CentralSystem
from csms.auth import hash_password
from csms.ocpp.admission import (
    STATION_ID_MAX_LENGTH,
    look_alike_groups,
    look_alikes,
    station_id_problem,
)
from csms.ocpp.errors import CallFailed
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
    id: str = Field(min_length=1, max_length=STATION_ID_MAX_LENGTH, pattern=r"^[^/\\\s]+$")
    password: str | None = Field(default=None, min_length=8, max_length=40)
    approve: bool = True

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        problem = station_id_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


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


def _station(
    cs: CentralSystem, record: StationRecord, connectors: list[ConnectorRecord]
) -> Station:
    session = cs.registry.get(record.id)
    last_seen = record.last_seen
    if session is not None:
        last_seen = max(last_seen or 0, session.last_seen)
    return Station(
        id=record.id,
        status=record.status,
        online=cs.registry.is_online(record.id),
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
async def list_stations(cs: CS) -> list[Station]:
    records = await cs.store.stations.all()
    similar = look_alike_groups(record.id for record in records)
    stations = [_station(cs, record, []) for record in records]
    for station in stations:
        station.look_alike = similar.get(station.id, [])
    return stations


@router.post("", response_model=Station, status_code=201)
async def add_station(body: NewStation, cs: CS) -> Station:
    """Register a station ahead of its first connection (optionally with its password)."""
    if await cs.store.stations.get(body.id) is not None:
        raise HTTPException(409, f"station {body.id} already exists")
    await cs.store.stations.create(body.id, "accepted" if body.approve else "pending", cs.clock())
    if body.password:
        hashed = await asyncio.to_thread(hash_password, body.password)
        await cs.store.stations.set_password_hash(body.id, hashed)
    return await show_station(body.id, cs)


@router.get("/{station_id}", response_model=Station)
async def show_station(station_id: str, cs: CS) -> Station:
    row = await cs.store.stations.get(station_id)
    if row is None:
        raise not_found(f"station {station_id}")
    station = _station(cs, row, await cs.store.stations.connectors(station_id))
    station.look_alike = look_alikes(station_id, await cs.store.stations.ids())
    return station


@router.put("/{station_id}/password", response_model=Station)
async def set_password(station_id: str, body: Password, cs: CS) -> Station:
    """Set (or with null, remove) the station's HTTP Basic password; stored hashed."""
    hashed = await asyncio.to_thread(hash_password, body.password) if body.password else None
    if not await cs.store.stations.set_password_hash(station_id, hashed):
        raise not_found(f"station {station_id}")
    return await show_station(station_id, cs)


async def _rebook(cs: CentralSystem, station_id: str) -> None:
    """Ask an approved, connected station to boot again so it leaves the Pending state."""
    try:
        await cs.registry.call(
            station_id, "TriggerMessage", {"requestedMessage": "BootNotification"}
        )
    except CallFailed as exc:
        log.info("%s: TriggerMessage BootNotification after approval failed: %s", station_id, exc)


@router.post("/{station_id}/approve", response_model=Station)
async def approve_station(station_id: str, cs: CS) -> Station:
    if not await cs.store.stations.set_status(station_id, "accepted"):
        raise not_found(f"station {station_id}")
    cs.bus.publish(events.StationApproved(station_id, cs.clock()))
    if cs.registry.is_online(station_id):
        task = asyncio.create_task(_rebook(cs, station_id))
        cs.background.add(task)
        task.add_done_callback(cs.background.discard)
    return await show_station(station_id, cs)


@router.post("/{station_id}/reject", response_model=Station)
async def reject_station(station_id: str, cs: CS) -> Station:
    if not await cs.store.stations.set_status(station_id, "rejected"):
        raise not_found(f"station {station_id}")
    session = cs.registry.get(station_id)
    if session is not None:
        await session.close(1008, "station rejected")
    return await show_station(station_id, cs)
