"""The SCN wizard: paste or upload a plan, dry run per station, apply, watch verification."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Request, Response

from csms.api import scn
from csms.api.deps import MAX_ID
from csms.config import changes as ch
from csms.web.console import console_of

router = APIRouter()


def _request(text: str, fmt: str, reboot: str) -> scn.PlanRequest:
    return scn.PlanRequest.model_validate({"text": text, "format": fmt, "reboot": reboot})


@router.get("/scn")
async def wizard(request: Request) -> Response:
    console = console_of(request)
    jobs = await console.context.config.scn.jobs(5)
    return console.render(
        request,
        "scn.html",
        policies=ch.REBOOT_POLICIES,
        jobs=[scn.job_view(job) for job in jobs],
    )


Text = Annotated[str, Form()]
Format = Annotated[Literal["toml", "yaml"], Form(alias="format")]
Reboot = Annotated[ch.RebootPolicy, Form()]


@router.post("/scn/plan")
async def dry_run(
    request: Request, text: Text, plan_format: Format = "toml", reboot: Reboot = "when-idle"
) -> Response:
    """The dry run as a fragment: per station the keys that change and the problems."""
    console = console_of(request)
    report: dict[str, Any] | None = None
    error = None
    try:
        report = await scn.plan(_request(text, plan_format, reboot), console.context)
    except HTTPException as exc:
        error = exc.detail
    return console.render(request, "scn_report.html", report=report, error=error)


@router.post("/scn/apply")
async def apply(
    request: Request, text: Text, plan_format: Format = "toml", reboot: Reboot = "when-idle"
) -> Response:
    """Apply the plan (refused with its problems when it has any); the job fragment follows."""
    console = console_of(request)
    try:
        job = await scn.apply(_request(text, plan_format, reboot), console.context)
    except HTTPException as exc:
        return console.render(request, "scn_job.html", job=None, error=exc.detail)
    return console.render(request, "scn_job.html", job=job, error=None)


@router.get("/scn/jobs/{job_id}")
async def job(job_id: int, request: Request) -> Response:
    console = console_of(request)
    if not 0 <= job_id <= MAX_ID:
        return console.render(request, "scn_job.html", job=None, error="no such job")
    progress = await console.context.config.scn.progress(job_id)
    view = None if progress is None else scn.job_view(progress)
    error = None if progress is not None else f"SCN job {job_id} not found"
    return console.render(request, "scn_job.html", job=view, error=error)
