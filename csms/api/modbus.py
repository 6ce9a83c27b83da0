"""Modbus control of a station: its prerequisites over OCPP, the offered set-up, the link."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from csms.api.config import Change, change_out
from csms.api.deps import Ctx
from csms.config import changes as ch
from csms.config.modbus_ready import modbus_missing, offered_changes

router = APIRouter(tags=["modbus"])
STATION = "/api/v1/stations/{station_id}"


class MissingOut(BaseModel):
    key: str
    value: str | None
    needed: str | None = Field(description="the value to set; null: not a key change (licence)")
    reason: str


class ModbusStatus(BaseModel):
    station_id: str
    control: str = Field(description='"modbus" when the site settings say so, else "ocpp"')
    ready: bool | None = Field(description="prerequisites hold (null: no snapshot yet)")
    missing: list[MissingOut]
    offered_changes: dict[str, str] = Field(
        description="key → value; POST .../modbus/setup applies them"
    )
    link: dict[str, Any] | None


class SetupRequest(BaseModel):
    reboot: ch.RebootPolicy = Field(ch.DEFAULT_REBOOT_POLICY, description="never, when-idle, now")


async def _values(ctx: Ctx, station_id: str) -> dict[str, str | None] | None:
    if await ctx.records.stations.get(station_id) is None:
        raise HTTPException(404, f"station {station_id} is not known")
    snapshot = await ctx.config.store.latest_snapshot(station_id)
    return None if snapshot is None else dict(snapshot.values)


@router.get(STATION + "/modbus", response_model=ModbusStatus)
async def modbus_status(station_id: str, ctx: Ctx) -> ModbusStatus:
    """Whether the station can be controlled over its Modbus slave, and what to change if not."""
    values = await _values(ctx, station_id)
    missing = [] if values is None else modbus_missing(values)
    site_id = ctx.charging.site_id_of(station_id)
    read = None if site_id is None else ctx.charging.read_site(site_id, ctx.clock())
    station = None if read is None else read.station(station_id)
    link = None if station is None else station.modbus
    return ModbusStatus(
        station_id=station_id,
        control="modbus" if link is not None else "ocpp",
        ready=None if values is None else not missing,
        missing=[
            MissingOut(key=m.key, value=m.value, needed=m.needed, reason=m.reason) for m in missing
        ],
        offered_changes={} if values is None else offered_changes(values),
        link=None if link is None else dict(link),
    )


@router.post(STATION + "/modbus/setup", response_model=list[Change])
async def modbus_setup(station_id: str, body: SetupRequest, ctx: Ctx) -> list[Change]:
    """Apply the offered changes through the configuration workflow (with the reboot policy)."""
    values = await _values(ctx, station_id)
    if values is None:
        raise HTTPException(409, f"station {station_id} has no configuration snapshot yet")
    wanted = offered_changes(values)
    if not wanted:
        missing = modbus_missing(values)
        detail = "; ".join(m.describe() for m in missing) or "nothing to change: ready"
        raise HTTPException(409, detail)
    new = [await ctx.config.prepare(station_id, key, value, False) for key, value in wanted.items()]
    records = await ctx.config.submit(station_id, new, body.reboot, origin="modbus-setup")
    return [change_out(r) for r in records]
