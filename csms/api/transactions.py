"""Transactions and their meter values."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

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


@router.get("/transactions", response_model=list[Transaction])
async def list_transactions(ctx: Ctx, limit: int = Query(100, ge=1, le=10000)) -> list[Transaction]:
    return [await _tx(ctx, r) for r in await ctx.records.transactions.latest(limit=limit)]


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
