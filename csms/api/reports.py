"""Reports: energy per id tag, station or period, as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from csms.api.deps import Ctx
from csms.reports.energy import energy_report, to_csv

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class EnergyLine(BaseModel):
    key: str = Field(description="the tag, the station, or the period (day/week start, YYYY-MM)")
    sessions: int
    energy_kwh: float


def _epoch(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(422, f"{name}: {text!r} is not an ISO 8601 date or time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@router.get(
    "/energy",
    response_model=list[EnergyLine],
    responses={200: {"content": {"text/csv": {}}, "description": "with format=csv: CSV"}},
)
async def energy(
    ctx: Ctx,
    by: Literal["tag", "station", "day", "week", "month"] = "month",
    from_: str | None = Query(None, alias="from", description="sessions started at or after"),
    to: str | None = Query(None, description="sessions started before (ISO 8601, UTC)"),
    output: Literal["json", "csv"] = Query("json", alias="format"),
) -> list[EnergyLine] | Response:
    """Energy of closed sessions per tag, station, day, week (Monday) or month, in the UTC
    period in which each session started; computed in the database."""
    since, until = _epoch(from_, "from"), _epoch(to, "to")
    if since is not None and until is not None and until <= since:
        raise HTTPException(422, "to must be later than from")
    rows = await energy_report(ctx.records.db, by, since, until)
    if output == "csv":
        return Response(to_csv(by, rows), media_type="text/csv")
    return [EnergyLine(key=r.key, sessions=r.sessions, energy_kwh=r.energy_kwh) for r in rows]
