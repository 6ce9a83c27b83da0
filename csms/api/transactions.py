"""Transactions and their meter values."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from csms import events
from csms.api.deps import ApiContext, Ctx, RowId, not_found
from csms.storage.records import MeterValueRecord, TransactionRecord

router = APIRouter(prefix="/api/v1", tags=["transactions"])


class Transaction(BaseModel):
    id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    start_time: str
    meter_stop: int | None
    stop_time: str | None
    stop_reason: str | None
    closed_by_operator: bool = False
    close_reason: str | None = Field(None, description="why an operator closed it by hand")
    energy_wh: int | None = Field(
        description="meterStop − meterStart; while running, the latest "
        "Energy.Active.Import.Register reading − meterStart (null before the first reading)"
    )


class SampledValue(BaseModel):
    connector_id: int
    transaction_id: int | None
    sampled_at: str
    value: str
    measurand: str | None
    phase: str | None
    unit: str | None
    context: str | None
    location: str | None


async def _tx(ctx: ApiContext, record: TransactionRecord) -> Transaction:
    """The transaction, with the energy so far when it is still running."""
    tx = Transaction(
        id=record.id,
        station_id=record.station_id,
        connector_id=record.connector_id,
        id_tag=record.id_tag,
        meter_start=record.meter_start,
        start_time=record.start_time,
        meter_stop=record.meter_stop,
        stop_time=record.stop_time,
        stop_reason=record.stop_reason,
        closed_by_operator=record.closed_by_operator,
        close_reason=record.close_reason,
        energy_wh=record.energy_wh,
    )
    if tx.meter_stop is None:
        latest = await ctx.records.transactions.latest_energy_register_wh(record)
        # A register below meterStart (a meter reset, another register) is no usable energy.
        if latest is not None and latest >= tx.meter_start:
            tx.energy_wh = round(latest) - tx.meter_start
    return tx


def _sampled_value(record: MeterValueRecord) -> SampledValue:
    return SampledValue(
        connector_id=record.connector_id,
        transaction_id=record.transaction_id,
        sampled_at=record.sampled_at,
        value=record.value,
        measurand=record.measurand,
        phase=record.phase,
        unit=record.unit,
        context=record.context,
        location=record.location,
    )


def _epoch(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(422, f"{name}: {text!r} is not an ISO 8601 date or time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@router.get("/transactions", response_model=list[Transaction])
async def list_transactions(
    ctx: Ctx,
    limit: int = Query(100, ge=1, le=10000),
    station_id: str | None = None,
    id_tag: str | None = None,
    from_: str | None = Query(None, alias="from", description="started at or after (ISO 8601)"),
    to: str | None = Query(None, description="started before (ISO 8601)"),
) -> list[Transaction]:
    """The latest transactions, optionally of one station, one tag and a period."""
    records = await ctx.records.transactions.search(
        station_id, id_tag, _epoch(from_, "from"), _epoch(to, "to"), limit
    )
    return [await _tx(ctx, r) for r in records]


class CloseRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why (kept with the row)")


@router.post("/transactions/{transaction_id}/close", response_model=Transaction)
async def close_transaction(transaction_id: RowId, body: CloseRequest, ctx: Ctx) -> Transaction:
    """Close an open transaction whose StopTransaction will never come (a replaced station, a
    wiped queue). Its meterStop is the latest energy register reading (else meterStart); it
    no longer blocks a `when-idle` reboot."""
    row = await ctx.records.transactions.get(transaction_id)
    if row is None:
        raise not_found(f"transaction {transaction_id}")
    if row.meter_stop is not None:
        raise HTTPException(409, f"transaction {transaction_id} is already closed")
    latest = await ctx.records.transactions.latest_energy_register_wh(row)
    meter_stop = round(latest) if latest is not None and latest >= row.meter_start else None
    now = ctx.clock()
    closed = await ctx.records.transactions.close_by_operator(
        transaction_id, row.meter_start if meter_stop is None else meter_stop, body.reason, now
    )
    if closed is None:
        raise HTTPException(409, f"transaction {transaction_id} is already closed")
    ctx.bus.publish(
        events.TransactionStopped(
            closed.station_id,
            closed.id,
            closed.meter_stop or 0,
            "Other",
            now,
            connector_id=closed.connector_id,
        )
    )
    return await _tx(ctx, closed)


@router.get("/transactions/{transaction_id}", response_model=Transaction)
async def show_transaction(transaction_id: RowId, ctx: Ctx) -> Transaction:
    row = await ctx.records.transactions.get(transaction_id)
    if row is None:
        raise not_found(f"transaction {transaction_id}")
    return await _tx(ctx, row)


@router.get("/transactions/{transaction_id}/meter-values", response_model=list[SampledValue])
async def transaction_meter_values(
    transaction_id: RowId,
    ctx: Ctx,
    limit: int = Query(1000, ge=1, le=100000),
) -> list[SampledValue]:
    row = await ctx.records.transactions.get(transaction_id)
    if row is None:
        raise not_found(f"transaction {transaction_id}")
    records = await ctx.records.transactions.meter_values(row.station_id, transaction_id, limit)
    return [_sampled_value(r) for r in records]


@router.get("/stations/{station_id}/transactions", response_model=list[Transaction])
async def station_transactions(
    station_id: str,
    ctx: Ctx,
    limit: int = Query(100, ge=1, le=10000),
) -> list[Transaction]:
    if await ctx.records.stations.get(station_id) is None:
        raise not_found(f"station {station_id}")
    return [await _tx(ctx, r) for r in await ctx.records.transactions.latest(station_id, limit)]
