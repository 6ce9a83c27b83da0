"""Operator commands to a station: remote start/stop, unlock, availability, trigger, cache,
data transfer, composite schedule, charging profiles by hand and reservations.

Every command is validated before sending (422 with one line), sent with one CALL in flight per
station, and answered 200 `{"status": <the station's own status>, …}` when the station did it;
a refusal is 409 `station X answered Rejected to RemoteStartTransaction`, an offline station 409
`station X is offline`. Firmware and diagnostics: csms/api/files.py.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from csms.api.deps import ApiContext, Ctx, RowId
from csms.ocpp.errors import CallErrorReceived, CallFailed, StationOffline
from csms.operations import commands as cmd
from csms.operations.interfaces import Answer, Refused
from csms.operations.records import Reservation

router = APIRouter(prefix="/api/v1/stations/{station_id}", tags=["operations"])
T = TypeVar("T")


class CommandResult(BaseModel):
    station_id: str
    action: str = Field(description="the OCPP action sent")
    status: str = Field(description="the station's own status (Accepted, Unlocked, Scheduled…)")
    answer: dict[str, Any] = Field(description="the station's whole answer payload")


class RemoteStart(BaseModel):
    connector_id: int | None = Field(default=None, description="None: the station chooses")
    id_tag: str = Field(description="the idTag to start with (Alfen: one it accepts)")
    charging_profile: dict[str, Any] | None = Field(
        default=None, description="an optional TxProfile (csChargingProfiles, OCPP field names)"
    )


class RemoteStop(BaseModel):
    transaction_id: int


class Unlock(BaseModel):
    connector_id: int


class Availability(BaseModel):
    connector_id: int = Field(description="0 = the whole station")
    type: Literal["Operative", "Inoperative"]


class Trigger(BaseModel):
    message: Literal[
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ]
    connector_id: int | None = None


class DataTransfer(BaseModel):
    vendor_id: str
    message_id: str | None = None
    data: str | None = None


class ProfileRequest(BaseModel):
    connector_id: int = Field(description="0 for a ChargePointMaxProfile / station TxDefault")
    charging_profile: dict[str, Any] = Field(description="csChargingProfiles (OCPP field names)")


class NewReservation(BaseModel):
    connector_id: int = Field(description="0 = any connector")
    id_tag: str
    expiry: datetime = Field(description="ISO 8601; no zone means UTC")
    parent_id_tag: str | None = None


class ReservationOut(BaseModel):
    id: int
    station_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry: float
    station_status: str = Field(description="the station's answer to ReserveNow")
    state: str = Field(description="active, used, cancelled, expired or refused")
    transaction_id: int | None = Field(description="the transaction that used it")
    created_at: float
    cancelled_at: float | None


def reservation_out(r: Reservation, now: float) -> ReservationOut:
    return ReservationOut(
        id=r.id,
        station_id=r.station_id,
        connector_id=r.connector_id,
        id_tag=r.id_tag,
        parent_id_tag=r.parent_id_tag,
        expiry=r.expiry,
        station_status=r.station_status,
        state=r.state(now),
        transaction_id=r.transaction_id,
        created_at=r.created_at,
        cancelled_at=r.cancelled_at,
    )


async def known_station(ctx: ApiContext, station_id: str) -> None:
    if await ctx.records.stations.get(station_id) is None:
        raise HTTPException(404, f"station {station_id} not found")


async def guarded(station_id: str, work: Awaitable[T]) -> T:
    """Run a command; the central system's and the station's refusals as one-line errors."""
    try:
        return await work
    except cmd.InvalidCommand as exc:
        raise HTTPException(422, str(exc)) from None
    except Refused as exc:
        raise HTTPException(409, str(exc)) from None
    except StationOffline:
        raise HTTPException(409, f"station {station_id} is offline") from None
    except CallErrorReceived as exc:
        detail = f"station {station_id} answered {exc.code}: {exc.description}"
        raise HTTPException(409, detail) from None
    except CallFailed as exc:
        raise HTTPException(502, str(exc)) from None


def result(station_id: str, answer: Answer) -> CommandResult:
    return CommandResult(
        station_id=station_id, action=answer.action, status=answer.status, answer=answer.payload
    )


async def _send(ctx: ApiContext, station_id: str, build: Any, *args: Any) -> CommandResult:
    await known_station(ctx, station_id)

    async def work() -> Answer:
        return await ctx.operations.send(station_id, build(*args))

    return result(station_id, await guarded(station_id, work()))


@router.post("/remote-start", response_model=CommandResult)
async def remote_start(station_id: str, body: RemoteStart, ctx: Ctx) -> CommandResult:
    """RemoteStartTransaction with the idTag given (and an optional TxProfile)."""
    await known_station(ctx, station_id)

    async def work() -> Answer:
        caps = await ctx.operations.capabilities(station_id)
        command = cmd.remote_start(body.connector_id, body.id_tag, body.charging_profile, caps)
        return await ctx.operations.send(station_id, command)

    return result(station_id, await guarded(station_id, work()))


@router.post("/remote-stop", response_model=CommandResult)
async def remote_stop(station_id: str, body: RemoteStop, ctx: Ctx) -> CommandResult:
    """RemoteStopTransaction of a running transaction."""
    return await _send(ctx, station_id, cmd.remote_stop, body.transaction_id)


@router.post("/unlock", response_model=CommandResult)
async def unlock(station_id: str, body: Unlock, ctx: Ctx) -> CommandResult:
    """UnlockConnector (a running transaction on it stops first)."""
    return await _send(ctx, station_id, cmd.unlock, body.connector_id)


@router.post("/availability", response_model=CommandResult)
async def availability(station_id: str, body: Availability, ctx: Ctx) -> CommandResult:
    """ChangeAvailability; `Scheduled` when a transaction runs (it changes after it ends)."""
    return await _send(ctx, station_id, cmd.availability, body.connector_id, body.type)


@router.post("/trigger", response_model=CommandResult)
async def trigger(station_id: str, body: Trigger, ctx: Ctx) -> CommandResult:
    """TriggerMessage: the station sends the message asked for."""
    return await _send(ctx, station_id, cmd.trigger, body.message, body.connector_id)


@router.post("/clear-cache", response_model=CommandResult)
async def clear_cache(station_id: str, ctx: Ctx) -> CommandResult:
    """ClearCache: the station forgets the idTags it cached."""
    return await _send(ctx, station_id, cmd.clear_cache)


@router.post("/data-transfer", response_model=CommandResult)
async def data_transfer(station_id: str, body: DataTransfer, ctx: Ctx) -> CommandResult:
    """DataTransfer with a vendor id, an optional message id and data."""
    return await _send(
        ctx, station_id, cmd.data_transfer, body.vendor_id, body.message_id, body.data
    )


@router.get("/composite-schedule", response_model=CommandResult)
async def composite_schedule(
    station_id: str,
    ctx: Ctx,
    connector_id: int = 0,
    duration_s: int = 3600,
    unit: Literal["A", "W"] | None = None,
) -> CommandResult:
    """GetCompositeSchedule now (in the station's own unit unless `unit` is given)."""
    await known_station(ctx, station_id)

    async def work() -> Answer:
        caps = await ctx.operations.capabilities(station_id)
        command = cmd.composite(connector_id, duration_s, unit, caps)
        return await ctx.operations.send(station_id, command)

    return result(station_id, await guarded(station_id, work()))


@router.post("/charging-profiles", response_model=CommandResult)
async def set_profile(station_id: str, body: ProfileRequest, ctx: Ctx) -> CommandResult:
    """SetChargingProfile by hand, checked against the station's capabilities (its latest
    configuration snapshot); see docs/operations.md for how the control loop treats it."""
    await known_station(ctx, station_id)

    work = ctx.operations.set_profile(station_id, body.connector_id, body.charging_profile)
    return result(station_id, await guarded(station_id, work))


@router.delete("/charging-profiles", response_model=CommandResult)
async def clear_profile(
    station_id: str,
    ctx: Ctx,
    id: int | None = Query(default=None, ge=0),
    connector_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> CommandResult:
    """ClearChargingProfile; no criterion clears every profile on the station (the control
    loop's too: it sends its own again)."""
    await known_station(ctx, station_id)
    work = ctx.operations.clear_profile(station_id, id, connector_id, purpose, stack_level)
    return result(station_id, await guarded(station_id, work))


class ManualProfileOut(BaseModel):
    connector_id: int
    profile_id: int
    purpose: str
    stack_level: int
    limit_a: float = Field(description="the connector's operator cap while the profile is set")
    set_at: float


@router.get("/charging-profiles", response_model=list[ManualProfileOut])
async def manual_profiles(station_id: str, ctx: Ctx) -> list[ManualProfileOut]:
    """Profiles set by hand on a station a site's control loop manages (each caps its
    connector until cleared)."""
    await known_station(ctx, station_id)
    return [
        ManualProfileOut(
            connector_id=m.connector_id,
            profile_id=m.profile_id,
            purpose=m.purpose,
            stack_level=m.stack_level,
            limit_a=m.limit_a,
            set_at=m.set_at,
        )
        for m in await ctx.operations.manual_profiles(station_id)
    ]


@router.post("/reservations", response_model=ReservationOut)
async def reserve(station_id: str, body: NewReservation, ctx: Ctx) -> ReservationOut:
    """ReserveNow; the reservation is stored with the station's answer."""
    await known_station(ctx, station_id)
    expiry = (
        body.expiry.timestamp()
        if body.expiry.tzinfo
        else cmd.parse_time(body.expiry.isoformat(), "expiry")
    )
    work = ctx.operations.reserve(
        station_id, body.connector_id, body.id_tag, expiry, body.parent_id_tag
    )
    return reservation_out(await guarded(station_id, work), ctx.operations.now())


@router.get("/reservations", response_model=list[ReservationOut])
async def reservations(station_id: str, ctx: Ctx) -> list[ReservationOut]:
    """The station's reservations, newest first, with their state now."""
    await known_station(ctx, station_id)
    now = ctx.operations.now()
    return [reservation_out(r, now) for r in await ctx.operations.reservations(station_id)]


@router.delete("/reservations/{reservation_id}", response_model=ReservationOut)
async def cancel_reservation(station_id: str, reservation_id: RowId, ctx: Ctx) -> ReservationOut:
    """CancelReservation."""
    await known_station(ctx, station_id)
    try:
        work = ctx.operations.cancel_reservation(station_id, reservation_id)
        cancelled = await guarded(station_id, work)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return reservation_out(cancelled, ctx.operations.now())
