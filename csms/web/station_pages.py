"""Stations: the list (filters, search) and a station's page (live connectors, transactions,
events and errors, smart charging, actions with the station's answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from csms.api.charging import get_station_charging
from csms.api.stations import Station, list_stations, show_station
from csms.api.transactions import Transaction, station_transactions
from csms.storage.records import ConnectorRecord
from csms.web.console import Console, console_of

router = APIRouter()

TRIGGER_MESSAGES = (
    "StatusNotification",
    "MeterValues",
    "Heartbeat",
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
)


def matches(station: Station, q: str, state: str) -> bool:
    """Whether a station passes the list's filters (search text and state)."""
    text = " ".join(
        v or "" for v in (station.id, station.vendor, station.model, station.firmware_version)
    )
    if q and q.lower() not in text.lower():
        return False
    if state == "online":
        return station.online
    if state == "offline":
        return not station.online
    if state in ("pending", "accepted", "rejected"):
        return station.status == state
    return True


@router.get("/stations")
async def stations_page(request: Request, q: str = "", state: str = "") -> Response:
    console = console_of(request)
    ctx = console.context
    stations = [s for s in await list_stations(ctx) if matches(s, q, state)]
    connectors: dict[str, list[ConnectorRecord]] = {s.id: [] for s in stations}
    for connector in await ctx.records.stations.all_connectors():
        if connector.station_id in connectors:
            connectors[connector.station_id].append(connector)
    return console.render(
        request,
        "stations.html",
        stations=stations,
        connectors=connectors,
        q=q,
        state=state,
        now=ctx.clock(),
    )


async def _charging(console: Console, station_id: str) -> dict[str, Any] | None:
    try:
        return await get_station_charging(station_id, console.context)
    except HTTPException:  # no site: smart charging does not manage this station
        return None


async def _live_values(console: Console, station_id: str) -> dict[str, Any]:
    ctx = console.context
    station = await show_station(station_id, ctx)
    transactions: list[Transaction] = await station_transactions(station_id, ctx, limit=20)
    return {
        "station": station,
        "running": [t for t in transactions if t.stop_time is None],
        "recent": [t for t in transactions if t.stop_time is not None][:10],
        "charging": await _charging(console, station_id),
        "now": ctx.clock(),
    }


@router.get("/stations/{station_id}")
async def station_page(station_id: str, request: Request) -> Response:
    console = console_of(request)
    ctx = console.context
    try:
        values = await _live_values(console, station_id)
    except HTTPException as exc:
        return console.render(request, "error.html", exc.status_code, message=exc.detail)
    history = await ctx.records.stations.status_history(station_id, limit=30)
    return console.render(
        request,
        "station.html",
        **values,
        events=await ctx.records.events.for_station(station_id, limit=20),
        errors=[h for h in history if h.error_code not in ("NoError", "")],
        triggers=TRIGGER_MESSAGES,
    )


@router.get("/stations/{station_id}/live")
async def station_live(station_id: str, request: Request) -> Response:
    """The live part of the station page (htmx polls it)."""
    console = console_of(request)
    return console.render(request, "station_live.html", **await _live_values(console, station_id))
