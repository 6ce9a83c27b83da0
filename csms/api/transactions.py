"""Transactions and their meter values."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from csms.api.deps import CS, RowId, not_found

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
    energy_wh: int | None


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


def _tx(row: dict[str, object]) -> Transaction:
    return Transaction.model_validate({k: row[k] for k in Transaction.model_fields})


@router.get("/transactions", response_model=list[Transaction])
async def list_transactions(cs: CS, limit: int = Query(100, ge=1, le=10000)) -> list[Transaction]:
    return [_tx(r) for r in await cs.store.transactions.list(limit=limit)]


@router.get("/transactions/{transaction_id}", response_model=Transaction)
async def show_transaction(transaction_id: RowId, cs: CS) -> Transaction:
    row = await cs.store.transactions.get(transaction_id)
    if row is None:
        raise not_found(f"transaction {transaction_id}")
    return _tx(row)


@router.get("/transactions/{transaction_id}/meter-values", response_model=list[SampledValue])
async def transaction_meter_values(
    transaction_id: RowId,
    cs: CS,
    limit: int = Query(1000, ge=1, le=100000),
) -> list[SampledValue]:
    row = await cs.store.transactions.get(transaction_id)
    if row is None:
        raise not_found(f"transaction {transaction_id}")
    rows = await cs.store.transactions.meter_values(row["station_id"], transaction_id, limit)
    return [SampledValue.model_validate(r) for r in rows]


@router.get("/stations/{station_id}/transactions", response_model=list[Transaction])
async def station_transactions(
    station_id: str,
    cs: CS,
    limit: int = Query(100, ge=1, le=10000),
) -> list[Transaction]:
    if await cs.store.stations.get(station_id) is None:
        raise not_found(f"station {station_id}")
    return [_tx(r) for r in await cs.store.transactions.list(station_id, limit)]
