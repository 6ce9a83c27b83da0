"""Smart Charging Network set-up: dry run a plan, apply it, follow the apply jobs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from csms.api.config import config_service
from csms.api.deps import CS, RowId, not_found
from csms.config import changes as ch
from csms.config.scn import PlanError, ScnPlan, parse_plan, plan_from_dict
from csms.config.scn.apply import PlanRefused, report_view

router = APIRouter(prefix="/api/v1/scn", tags=["smart charging network"])


class PlanRequest(BaseModel):
    """A plan as file text (TOML or YAML) or as JSON (`plan`)."""

    text: str | None = Field(None, description="the plan file's content")
    format: Literal["toml", "yaml"] = "toml"
    plan: dict[str, Any] | None = Field(None, description="the plan as JSON instead of text")
    reboot: ch.RebootPolicy = Field(ch.DEFAULT_REBOOT_POLICY, description="apply only")


def _plan(body: PlanRequest) -> ScnPlan:
    try:
        if body.plan is not None:
            return plan_from_dict(body.plan)
        if body.text is not None:
            return parse_plan(body.text, body.format)
    except PlanError as exc:
        raise HTTPException(422, str(exc)) from None
    raise HTTPException(422, "send the plan as text (with format) or as plan")


@router.post("/plan")
async def plan(body: PlanRequest, cs: CS) -> dict[str, Any]:
    """Dry run: every member's key changes against its latest snapshot, and the problems."""
    report = await config_service(cs).scn.plan(_plan(body))
    return report_view(report)


@router.post("/apply", status_code=202)
async def apply(body: PlanRequest, cs: CS) -> dict[str, Any]:
    """Refuse a plan with problems (422, the reasons); else write differing keys, reboot, verify.

    Returns the job at once; follow it at `GET /api/v1/scn/jobs/{id}`.
    """
    try:
        job = await config_service(cs).scn.apply(_plan(body), body.reboot)
    except PlanRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return job


@router.get("/jobs")
async def jobs(cs: CS, limit: int = Query(20, ge=1, le=200)) -> list[dict[str, Any]]:
    service = config_service(cs)
    rows = await service.store.scn_jobs(limit)
    return [view for row in rows if (view := await service.scn.view(row["id"])) is not None]


@router.get("/jobs/{job_id}")
async def job(job_id: RowId, cs: CS) -> dict[str, Any]:
    view = await config_service(cs).scn.view(job_id)
    if view is None:
        raise not_found(f"SCN job {job_id}")
    return view
