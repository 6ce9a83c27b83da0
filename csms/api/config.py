"""Station configuration: snapshots and their history, validated changes, resets, licences.

Values are validated against the key catalog before anything is sent; a refused value gets a 422
whose message names the rule. Changes for an offline station are queued (`state: queued`) and
sent in order when it connects.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, field_validator

from csms.api.deps import MAX_ID, ApiContext, Ctx, RowId, not_found
from csms.config import changes as ch
from csms.config.catalog import CATALOG, lookup, spellings
from csms.config.features import describe, parse_unlocked_features
from csms.config.interfaces import ConfigControl, StationUnknown
from csms.config.records import ChangeRecord, LicenseProgress, LicenseStatus, SnapshotRecord
from csms.config.snapshot import diff_snapshots
from csms.config.validation import InvalidValue
from csms.ocpp.errors import CallFailed, StationOffline
from csms.storage.database import NUL

router = APIRouter(tags=["configuration"])
STATION = "/api/v1/stations/{station_id}"


class KeyInfo(BaseModel):
    key: str
    value: str | None
    readonly: bool
    known: bool = Field(description="in the key catalog")
    unit: str | None = None
    reboot: bool | None = Field(None, description="catalog: a change needs a reboot")
    feature: str | None = Field(None, description="licensed feature the key belongs to")
    description: str | None = None


class Snapshot(BaseModel):
    station_id: str
    snapshot_id: int
    taken_at: float = Field(description="first read that found this configuration")
    checked_at: float = Field(description="latest read that found it unchanged")
    reason: str
    online: bool
    keys: list[KeyInfo]
    unknown_keys: list[str]


class SnapshotSummary(BaseModel):
    id: int
    station_id: str
    taken_at: float
    checked_at: float | None
    reason: str
    key_count: int


class KeyDiffOut(BaseModel):
    key: str
    change: str
    old: str | None
    new: str | None


class SnapshotDiff(BaseModel):
    station_id: str
    from_snapshot: SnapshotSummary | None
    to_snapshot: SnapshotSummary
    changes: list[KeyDiffOut]


class ChangeRequest(BaseModel):
    value: str
    force: bool = Field(False, description="send an unknown key or an out-of-catalog value")
    reboot: ch.RebootPolicy = Field(ch.DEFAULT_REBOOT_POLICY, description="never, when-idle, now")

    @field_validator("value")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # U+0000 is refused at every edge (the storage cannot keep it; see refuse_nul).
        if NUL in value:
            raise ValueError("value contains U+0000 (NUL), which is not accepted")
        return value


class Change(BaseModel):
    id: int
    station_id: str
    key: str
    value: str
    status: str = Field(
        description="the station's answer (Accepted, RebootRequired, Rejected, NotSupported), "
        "or Queued while the station is offline"
    )
    state: str
    reboot: str
    origin: str
    reported_value: str | None
    detail: str | None
    warnings: list[str]
    forced: bool
    created_at: float
    sent_at: float | None
    finished_at: float | None


class ResetRequest(BaseModel):
    type: Literal["Soft", "Hard"] = "Soft"


class ResetResult(BaseModel):
    station_id: str
    type: str
    status: str


class LicenseRequest(BaseModel):
    key: str = Field(description="XXXX.XXXX.XXXX.XXXX.XXXX.XXXX")
    reboot: ch.RebootPolicy = ch.DEFAULT_REBOOT_POLICY


def change_out(record: ChangeRecord) -> Change:
    return Change(
        id=record.id,
        station_id=record.station_id,
        key=record.key,
        value=record.value,
        status=record.status or ("Queued" if record.state == ch.QUEUED else "None"),
        state=record.state,
        reboot=record.reboot_policy,
        origin=record.origin,
        reported_value=record.reported_value,
        detail=record.detail,
        warnings=list(record.warnings),
        forced=record.forced,
        created_at=record.created_at,
        sent_at=record.sent_at,
        finished_at=record.finished_at,
    )


def _key_info(key: str, value: str | None, readonly: bool) -> KeyInfo:
    spec = lookup(key)
    return KeyInfo(
        key=key,
        value=value,
        readonly=readonly,
        known=spec is not None,
        unit=spec.unit if spec else None,
        reboot=spec.reboot if spec else None,
        feature=spec.feature if spec else None,
        description=spec.description if spec else None,
    )


def _summary(snap: SnapshotRecord) -> SnapshotSummary:
    return SnapshotSummary(
        id=snap.id,
        station_id=snap.station_id,
        taken_at=snap.taken_at,
        checked_at=snap.checked_at,
        reason=snap.reason,
        key_count=len(snap.entries),
    )


def _snapshot_out(ctx: ApiContext, snap: SnapshotRecord) -> Snapshot:
    return Snapshot(
        station_id=snap.station_id,
        snapshot_id=snap.id,
        taken_at=snap.taken_at,
        checked_at=snap.checked_at,
        reason=snap.reason,
        online=ctx.stations.is_online(snap.station_id),
        keys=[_key_info(e.key, e.value, e.readonly) for e in snap.entries],
        unknown_keys=list(snap.unknown_keys),
    )


async def _known(service: ConfigControl, station_id: str) -> None:
    try:
        await service.require_station(station_id)
    except StationUnknown as exc:
        raise HTTPException(404, str(exc)) from None


def _call_failed(station_id: str, exc: CallFailed) -> HTTPException:
    if isinstance(exc, StationOffline):
        return HTTPException(409, f"station {station_id} is offline")
    return HTTPException(502, str(exc))


async def _fresh_or_latest(
    service: ConfigControl, station_id: str, refresh: bool
) -> SnapshotRecord:
    await _known(service, station_id)
    if refresh:
        try:
            return await service.take_snapshot(station_id, "request")
        except CallFailed as exc:
            raise _call_failed(station_id, exc) from None
    latest = await service.store.latest_snapshot(station_id)
    if latest is None:
        raise HTTPException(
            404,
            f"no configuration snapshot of station {station_id} yet; "
            "ask for one with ?refresh=true while it is online",
        )
    return latest


@router.get("/api/v1/configuration/catalog", response_model=list[dict[str, Any]])
async def catalog() -> list[dict[str, Any]]:
    """Every key the catalog knows: type, range, unit, read-only, reboot, feature, description."""
    return [
        {
            "key": s.name,
            "kind": s.kind,
            "unit": s.unit,
            "range": s.range_text,
            "choices": list(s.choices),
            "pattern": s.pattern_rule,
            "read_only": s.read_only,
            "write_only": s.write_only,
            "reboot": s.reboot,
            "feature": s.feature,
            "aliases": list(s.aliases),
            "description": s.description,
            "source": s.source,
        }
        for s in CATALOG.values()
    ]


@router.get(STATION + "/configuration", response_model=Snapshot)
async def get_configuration(station_id: str, ctx: Ctx, refresh: bool = False) -> Snapshot:
    """The latest snapshot; `?refresh=true` reads every key from the station first."""
    service = ctx.config
    return _snapshot_out(ctx, await _fresh_or_latest(service, station_id, refresh))


@router.get(STATION + "/configuration/snapshots", response_model=list[SnapshotSummary])
async def list_snapshots(
    station_id: str, ctx: Ctx, limit: int = Query(100, ge=1, le=1000)
) -> list[SnapshotSummary]:
    """Snapshot history, newest first: one entry per distinct configuration."""
    service = ctx.config
    await _known(service, station_id)
    headers = await service.store.list_snapshots(station_id, limit)
    return [SnapshotSummary(**asdict(header)) for header in headers]


@router.get(STATION + "/configuration/snapshots/{snapshot_id}", response_model=Snapshot)
async def get_snapshot(station_id: str, snapshot_id: RowId, ctx: Ctx) -> Snapshot:
    snap = await ctx.config.store.snapshot(station_id, snapshot_id)
    if snap is None:
        raise not_found(f"snapshot {snapshot_id} of station {station_id}")
    return _snapshot_out(ctx, snap)


@router.get(STATION + "/configuration/diff", response_model=SnapshotDiff)
async def diff(
    station_id: str,
    ctx: Ctx,
    from_id: int | None = Query(None, alias="from", ge=0, le=MAX_ID),
    to_id: int | None = Query(None, alias="to", ge=0, le=MAX_ID),
) -> SnapshotDiff:
    """What changed between two snapshots (default: the latest against the one before it)."""
    service = ctx.config
    await _known(service, station_id)
    store = service.store
    to = await (store.snapshot(station_id, to_id) if to_id else store.latest_snapshot(station_id))
    if to is None:
        raise not_found(f"snapshot {to_id or '(latest)'} of station {station_id}")
    if from_id is not None:
        old = await store.snapshot(station_id, from_id)
        if old is None:
            raise not_found(f"snapshot {from_id} of station {station_id}")
    else:
        old = await store.previous_snapshot(station_id, to.id)
    changes = diff_snapshots(old.values if old else {}, to.values)
    return SnapshotDiff(
        station_id=station_id,
        from_snapshot=_summary(old) if old else None,
        to_snapshot=_summary(to),
        changes=[KeyDiffOut(key=d.key, change=d.change, old=d.old, new=d.new) for d in changes],
    )


@router.get(STATION + "/configuration/changes", response_model=list[Change])
async def list_changes(
    station_id: str,
    ctx: Ctx,
    state: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[Change]:
    """The change queue and history, oldest first (`?state=queued` for the queue)."""
    service = ctx.config
    await _known(service, station_id)
    records = await service.store.changes(station_id, [state] if state else None, limit)
    return [change_out(r) for r in records]


@router.get(STATION + "/configuration/changes/{change_id}", response_model=Change)
async def get_change(station_id: str, change_id: RowId, ctx: Ctx) -> Change:
    record = await ctx.config.store.change(change_id)
    if record is None or record.station_id != station_id:
        raise not_found(f"change {change_id} of station {station_id}")
    return change_out(record)


@router.get(STATION + "/configuration/{key}", response_model=KeyInfo)
async def get_key(station_id: str, key: str, ctx: Ctx, refresh: bool = False) -> KeyInfo:
    """One key from the latest snapshot (or read now with `?refresh=true`)."""
    service = ctx.config
    await _known(service, station_id)
    if refresh:
        try:
            read = await service.read_keys(station_id, [key])
        except CallFailed as exc:
            raise _call_failed(station_id, exc) from None
        name = next((k for k in spellings(key) if k in read.values), None)
        if name is None:
            raise not_found(f"key {key} on station {station_id}")
        spec = lookup(name)
        return _key_info(name, read.values[name], bool(spec and spec.read_only))
    snap = await _fresh_or_latest(service, station_id, False)
    names = spellings(key)
    entry = next((e for e in snap.entries if e.key in names), None)
    if entry is None:
        raise not_found(f"key {key} in the latest snapshot of station {station_id}")
    return _key_info(entry.key, entry.value, entry.readonly)


@router.put(STATION + "/configuration/{key}", response_model=Change)
async def set_key(
    station_id: str, key: str, body: ChangeRequest, ctx: Ctx, force: bool = False
) -> Change:
    """Validate, then ChangeConfiguration (or queue it while the station is offline)."""
    service = ctx.config
    await _known(service, station_id)
    try:
        new = await service.prepare(station_id, key, body.value, force or body.force)
    except InvalidValue as exc:
        raise HTTPException(422, str(exc)) from None
    (record,) = await service.submit(station_id, [new], body.reboot)
    return change_out(record)


@router.post(STATION + "/reset", response_model=ResetResult)
async def reset(station_id: str, body: ResetRequest, ctx: Ctx) -> ResetResult:
    """Reset the station; changes waiting for a reboot are verified after it boots."""
    service = ctx.config
    await _known(service, station_id)
    try:
        status = await service.reset(station_id, body.type)
    except CallFailed as exc:
        raise _call_failed(station_id, exc) from None
    return ResetResult(station_id=station_id, type=body.type, status=status)


@router.post(STATION + "/license", response_model=dict[str, Any])
async def start_license(station_id: str, body: LicenseRequest, ctx: Ctx) -> dict[str, Any]:
    """Check the key, write FeatureLicenseKey, reboot (per `reboot`), report unlocked features."""
    service = ctx.config
    try:
        return license_job_view(await service.license.start(station_id, body.key, body.reboot))
    except InvalidValue as exc:
        raise HTTPException(422, str(exc)) from None
    except StationUnknown as exc:
        raise HTTPException(404, str(exc)) from None


@router.get(STATION + "/license", response_model=dict[str, Any])
async def license_status(station_id: str, ctx: Ctx) -> dict[str, Any]:
    """Unlocked features from the latest snapshot and the licence jobs with their progress."""
    service = ctx.config
    await _known(service, station_id)
    return license_status_view(await service.license.status(station_id))


def license_job_view(progress: LicenseProgress) -> dict[str, Any]:
    """A licence job as the API shows it."""
    job, change = progress.job, progress.change
    after = parse_unlocked_features(job.features_after)
    return {
        "id": job.id,
        "station_id": job.station_id,
        "state": job.state,
        "step": _license_step(progress),
        "change_id": job.change_id,
        "station_answer": change.status if change else None,
        "features_before": job.features_before,
        "features_after": job.features_after,
        "unlocked": list(job.unlocked),
        "unlocked_names": describe(job.unlocked),
        "features": describe(after) if after is not None else [],
        "detail": job.detail or (change.detail if change else None),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


def _license_step(progress: LicenseProgress) -> str:
    change = progress.change
    if progress.job.state != "running":
        return "finished"
    if change is None or change.state == ch.QUEUED:
        return "waiting to send the key (station offline?)"
    if change.state == ch.REBOOT_PENDING:
        return "key written; waiting to reboot"
    if change.state == ch.REBOOT_REQUIRED:
        return "key written; reboot the station to unlock"
    if change.state == ch.REBOOTING:
        return "rebooting"
    return "waiting for the station to boot"


def license_status_view(status: LicenseStatus) -> dict[str, Any]:
    """A station's features and licence jobs as the API shows them."""
    features = parse_unlocked_features(status.unlocked_features)
    return {
        "station_id": status.station_id,
        "unlocked_features": status.unlocked_features,
        "features": describe(features) if features is not None else [],
        "snapshot_taken_at": status.snapshot_taken_at,
        "jobs": [license_job_view(job) for job in status.jobs],
    }
