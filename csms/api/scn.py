"""Smart Charging Network set-up: dry run a plan, apply it, follow the apply jobs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from csms.api.deps import Ctx, RowId, not_found
from csms.config import changes as ch
from csms.config.scn import PlanError, PlanReport, ScnPlan, parse_plan, plan_from_dict
from csms.config.scn.results import PlanRefused, ScnProgress

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
async def plan(body: PlanRequest, ctx: Ctx) -> dict[str, Any]:
    """Dry run: every member's key changes against its latest snapshot, and the problems."""
    report = await ctx.config.scn.plan(_plan(body))
    return report_view(report)


@router.post("/apply", status_code=202)
async def apply(body: PlanRequest, ctx: Ctx) -> dict[str, Any]:
    """Refuse a plan with problems (422, the reasons); else write differing keys, reboot, verify.

    Returns the job at once; follow it at `GET /api/v1/scn/jobs/{id}`.
    """
    try:
        progress = await ctx.config.scn.apply(_plan(body), body.reboot)
    except PlanRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return job_view(progress)


@router.get("/jobs")
async def jobs(ctx: Ctx, limit: int = Query(20, ge=1, le=200)) -> list[dict[str, Any]]:
    return [job_view(progress) for progress in await ctx.config.scn.jobs(limit)]


@router.get("/jobs/{job_id}")
async def job(job_id: RowId, ctx: Ctx) -> dict[str, Any]:
    progress = await ctx.config.scn.progress(job_id)
    if progress is None:
        raise not_found(f"SCN job {job_id}")
    return job_view(progress)


def report_view(report: PlanReport) -> dict[str, Any]:
    """A dry run as the API shows it."""
    return {
        "network": report.network,
        "socket_count": report.socket_count,
        "ok": report.ok,
        "problems": report.all_problems,
        "warnings": list(report.warnings),
        "stations": [
            {
                "station_id": s.station_id,
                "socket_ids": list(s.socket_ids),
                "problems": list(s.problems),
                "changes": [asdict(k) for k in s.changes],
                "keys": [asdict(k) for k in s.keys],
            }
            for s in report.stations
        ],
    }


def job_view(progress: ScnProgress) -> dict[str, Any]:
    """An apply job with the live state of its changes, as the API shows it."""
    job, result, records = progress.job, progress.result, progress.changes
    stations = []
    for sid, socket_ids in result.members.items():
        changes = [
            {
                "id": cid,
                "key": records[cid].key,
                "value": records[cid].value,
                "state": records[cid].state,
                "status": records[cid].status,
                "detail": records[cid].detail,
            }
            for cid in result.change_ids.get(sid, [])
            if cid in records
        ]
        check = result.checks.get(sid)
        stations.append(
            {
                "station_id": sid,
                "socket_ids": list(socket_ids),
                "changes": changes,
                "consistent": check.consistent if check else None,
                "mismatches": [asdict(m) for m in check.mismatches] if check else [],
            }
        )
    return {
        "id": job.id,
        "network": job.network,
        "state": job.state,
        "reboot": job.reboot_policy,
        "detail": job.detail,
        "changed_keys": len(result.all_change_ids),
        "stations": stations,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }
