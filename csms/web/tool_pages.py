"""Tools: the meter test ("Test Smart Meter"), transactions (paged, filtered, CSV) and tags."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError

from csms.api.transactions import Transaction, list_transactions, station_transactions
from csms.meter.config import MeterSettings, known_models
from csms.meter.modbus import MeterReadError, quiet_pymodbus, read_once
from csms.meter.reading import InvalidReading, MeterReading
from csms.web.console import Console, console_of

router = APIRouter()

METER_TIMEOUT_S = 3.0
PAGE_SIZES = (25, 50, 100, 500)
MAX_ROWS = 10000
"""The most transactions a filter looks through (the API's own limit)."""


@router.get("/meter")
async def meter_page(request: Request) -> Response:
    console = console_of(request)
    return console.render(
        request, "meter.html", models=known_models().split(", "), configured=_configured(console)
    )


def _configured(console: Console) -> dict[str, MeterSettings]:
    """The sites' Modbus meters, by site id."""
    charging, now = console.context.charging, console.context.clock()
    reads = [charging.read_site(site_id, now) for site_id in charging.site_ids()]
    return {
        read.site.id: read.site.meter
        for read in reads
        if read is not None and read.site.meter.type in ("modbus", "simulated")
    }


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@router.post("/meter/read")
async def meter_read(
    request: Request,
    site: Annotated[str, Form()] = "",
    host: Annotated[str, Form()] = "",
    port: Annotated[str, Form()] = "502",
    unit: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "socomec-e27",
) -> Response:
    """Read a configured (`site`) or ad-hoc meter once: per-phase values, or the reason why not."""
    console = console_of(request)
    settings: MeterSettings | None = None
    error: str | None = None
    if site:
        settings = _configured(console).get(site)
        if settings is None:
            error = f"site {site} has no Modbus meter configured"
    else:
        data: dict[str, object] = {"type": "modbus", "host": host.strip(), "port": port.strip()}
        data |= {"model": model, "timeout_s": METER_TIMEOUT_S}
        if unit.strip():
            data["unit"] = unit.strip()
        try:
            settings = MeterSettings.model_validate(data)
        except ValidationError as exc:
            error = _first_error(exc)
    reading: MeterReading | None = None
    if settings is not None:
        quiet_pymodbus()
        try:
            reading = await read_once(
                settings.host,
                settings.port,
                settings.unit,
                settings.register_map(),
                timeout_s=min(settings.timeout_s, METER_TIMEOUT_S),
            )
        except (MeterReadError, InvalidReading, OSError) as exc:
            error = f"{settings.describe()}: {exc}"
    return console.render(
        request,
        "meter_result.html",
        reading=reading,
        error=error,
        what=settings.describe() if settings else None,
    )


async def _transactions(console: Console, station: str, tag: str, state: str) -> list[Transaction]:
    ctx = console.context
    if station:
        if await ctx.records.stations.get(station) is None:
            return []
        rows = await station_transactions(station, ctx, limit=MAX_ROWS)
    else:
        rows = await list_transactions(ctx, limit=MAX_ROWS)
    return [
        t
        for t in rows
        if (not tag or tag.lower() in t.id_tag.lower())
        and (state != "running" or t.stop_time is None)
        and (state != "finished" or t.stop_time is not None)
    ]


@router.get("/transactions")
async def transactions_page(
    request: Request,
    station: str = "",
    tag: str = "",
    state: str = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    console = console_of(request)
    rows = await _transactions(console, station, tag, state)
    pages = max(1, -(-len(rows) // size))
    return console.render(
        request,
        "transactions.html",
        rows=rows[(page - 1) * size : page * size],
        total=len(rows),
        page=page,
        pages=pages,
        size=size,
        sizes=PAGE_SIZES,
        station=station,
        tag=tag,
        state=state,
    )


CSV_FIELDS = list(Transaction.model_fields)


@router.get("/transactions.csv")
async def transactions_csv(
    request: Request, station: str = "", tag: str = "", state: str = ""
) -> Response:
    """The filtered transactions as CSV (every row, not just one page)."""
    rows = await _transactions(console_of(request), station, tag, state)
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row.model_dump())
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="transactions.csv"'},
    )


@router.get("/tags")
async def tags_page(request: Request) -> Response:
    """Id tags with their status, expiry, group and station, managed through the tags API."""
    console = console_of(request)
    tags = await console.context.tags.tags()
    return console.render(request, "tags.html", tags=tags)
