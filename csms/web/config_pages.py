"""A station's configuration: the latest snapshot as an editable table (catalog validation
before anything is sent), the change queue, snapshot history with diffs, the licence workflow."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from csms.api.config import diff, get_configuration, license_status, list_changes, list_snapshots
from csms.config.catalog import CATALOG
from csms.config.changes import REBOOT_POLICIES
from csms.config.validation import InvalidValue, check_value
from csms.web.console import console_of

router = APIRouter()

WRITE_ONLY = frozenset(spec.name for spec in CATALOG.values() if spec.write_only)
"""Keys whose value is a secret (the station's password): never shown."""


class ValueCheck(BaseModel):
    key: str
    value: str


class CheckResult(BaseModel):
    ok: bool
    value: str | None = None
    message: str | None = None
    warnings: list[str] = []


@router.post("/config/check", response_model=CheckResult)
async def check(body: ValueCheck) -> CheckResult:
    """The key catalog's verdict on a value, before it is sent (the same check the API makes)."""
    try:
        checked = check_value(body.key, body.value)
    except InvalidValue as exc:
        return CheckResult(ok=False, message=str(exc))
    return CheckResult(ok=True, value=checked.value, warnings=list(checked.warnings))


async def _or_none(coro: Any) -> Any:
    try:
        return await coro
    except HTTPException:
        return None


@router.get("/stations/{station_id}/config")
async def config_page(station_id: str, request: Request) -> Response:
    console = console_of(request)
    ctx = console.context
    if await ctx.records.stations.get(station_id) is None:
        return console.render(request, "error.html", 404, message=f"station {station_id} not found")
    return console.render(
        request,
        "config.html",
        station_id=station_id,
        snapshot=await _or_none(get_configuration(station_id, ctx)),
        snapshots=await _or_none(list_snapshots(station_id, ctx, limit=20)) or [],
        diff=await _or_none(diff(station_id, ctx, None, None)),
        changes=await _or_none(list_changes(station_id, ctx, None, 50)) or [],
        license=await _or_none(license_status(station_id, ctx)),
        policies=REBOOT_POLICIES,
        write_only=WRITE_ONLY,
    )


@router.get("/stations/{station_id}/config/changes")
async def changes_fragment(station_id: str, request: Request) -> Response:
    """The change queue and its states (htmx polls it)."""
    console = console_of(request)
    changes = await _or_none(list_changes(station_id, console.context, None, 50)) or []
    return console.render(request, "config_changes.html", changes=changes)


@router.get("/stations/{station_id}/config/diff")
async def diff_fragment(
    station_id: str, request: Request, to: int, frm: int | None = None
) -> Response:
    """What one snapshot changed against the one before it (or `frm`)."""
    console = console_of(request)
    result = await _or_none(diff(station_id, console.context, frm, to))
    return console.render(request, "config_diff.html", diff=result)


@router.get("/stations/{station_id}/license")
async def license_fragment(station_id: str, request: Request) -> Response:
    console = console_of(request)
    return console.render(
        request,
        "config_license.html",
        station_id=station_id,
        license=await _or_none(license_status(station_id, console.context)),
    )
