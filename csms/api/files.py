"""Firmware and diagnostics without extra servers.

Operator side (API token): `POST /api/v1/firmware?name=…` stores a file (raw body),
`GET /api/v1/firmware` lists them, `POST /api/v1/stations/{id}/firmware` sends UpdateFirmware
pointing at our own URL, `POST …/diagnostics` sends GetDiagnostics with our upload URL, and the
`GET`s show each station's progress (Firmware/DiagnosticsStatusNotification) and files.

Station side (`public_files_app`, mounted at `/files` without the API token: a station cannot
send one): `GET /files/firmware/{token}/{name}` downloads, `PUT` or `POST`
`/files/diagnostics/{token}/{name}` uploads (raw body or multipart/form-data). The token is
unguessable (192 random bits) and known only to the station told about it.
"""

from __future__ import annotations

import email.parser
import email.policy
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

from csms.api.deps import ApiContext, Ctx, RowId, api_context
from csms.api.operations import CommandResult, guarded, known_station, result
from csms.operations import commands as cmd
from csms.operations.interfaces import FILES_PREFIX, Answer, UnknownFile
from csms.operations.records import DiagnosticsState, FirmwareState, StoredFile

router = APIRouter(tags=["firmware and diagnostics"])
STATION = "/api/v1/stations/{station_id}"


class FileOut(BaseModel):
    id: str
    name: str
    size: int
    sha256: str
    stored_at: float
    station_id: str | None = None


class Step(BaseModel):
    status: str
    at: float


class FirmwareOut(BaseModel):
    station_id: str
    file_id: str | None = Field(description="the file of the latest UpdateFirmware sent")
    requested_at: float | None
    status: str | None = Field(description="the latest FirmwareStatusNotification since then")
    failed: bool = Field(description="DownloadFailed or InstallationFailed")
    steps: list[Step]


class DiagnosticsOut(BaseModel):
    station_id: str
    requested_at: float | None
    file_name: str | None = Field(description="the name the station said it will upload")
    status: str | None
    failed: bool
    steps: list[Step]
    files: list[FileOut] = Field(description="files received, newest first")


class FirmwareUpdate(BaseModel):
    file_id: str
    retrieve_at: datetime | None = Field(default=None, description="default: now")
    retries: int | None = None
    retry_interval_s: int | None = None


class DiagnosticsRequest(BaseModel):
    start: datetime | None = None
    stop: datetime | None = None
    location: str | None = Field(
        default=None, description="an external (FTP) location; default: our own upload URL"
    )


def file_out(f: StoredFile) -> FileOut:
    return FileOut(
        id=f.id, name=f.name, size=f.size, sha256=f.sha256, stored_at=f.stored_at,
        station_id=f.station_id,
    )  # fmt: skip


def firmware_out(state: FirmwareState) -> FirmwareOut:
    return FirmwareOut(
        station_id=state.station_id,
        file_id=state.file_id,
        requested_at=state.requested_at,
        status=state.status,
        failed=state.failed,
        steps=[Step(status=s.status, at=s.at) for s in state.steps],
    )


def diagnostics_out(state: DiagnosticsState) -> DiagnosticsOut:
    return DiagnosticsOut(
        station_id=state.station_id,
        requested_at=state.requested_at,
        file_name=state.file_name,
        status=state.status,
        failed=state.failed,
        steps=[Step(status=s.status, at=s.at) for s in state.steps],
        files=[file_out(f) for f in state.files],
    )


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return cmd.parse_time(value.isoformat(), "time")


def base_url(ctx: ApiContext, request: Request) -> str:
    """Where stations reach our files: `files_base_url`, else the address this request used."""
    return ctx.operations.files_base_url or str(request.base_url)


@router.get("/api/v1/firmware", response_model=list[FileOut])
async def firmware_files(ctx: Ctx) -> list[FileOut]:
    """Firmware files the central system serves."""
    return [file_out(f) for f in await ctx.operations.firmware_files()]


@router.post("/api/v1/firmware", response_model=FileOut)
async def add_firmware(request: Request, ctx: Ctx, name: str = "firmware.bin") -> FileOut:
    """Store a firmware file (the raw request body); the same content twice is one file."""
    content = await request.body()
    try:
        return file_out(await ctx.operations.add_firmware(name, content))
    except cmd.InvalidCommand as exc:
        raise HTTPException(422, str(exc)) from None


@router.post(STATION + "/firmware", response_model=CommandResult)
async def update_firmware(
    station_id: str, body: FirmwareUpdate, request: Request, ctx: Ctx
) -> CommandResult:
    """UpdateFirmware pointing the station at our URL of the file."""
    await known_station(ctx, station_id)

    async def work() -> Answer:
        retrieve_at = _epoch(body.retrieve_at)
        return await ctx.operations.update_firmware(
            station_id, body.file_id, base_url(ctx, request), retrieve_at, body.retries,
            body.retry_interval_s,
        )  # fmt: skip

    try:
        return result(station_id, await guarded(station_id, work()))
    except UnknownFile as exc:
        raise HTTPException(404, str(exc)) from None


@router.get(STATION + "/firmware", response_model=FirmwareOut)
async def firmware_state(station_id: str, ctx: Ctx) -> FirmwareOut:
    """The latest update sent and the station's progress since."""
    await known_station(ctx, station_id)
    return firmware_out(await ctx.operations.firmware_state(station_id))


@router.post(STATION + "/diagnostics", response_model=CommandResult)
async def get_diagnostics(
    station_id: str, body: DiagnosticsRequest, request: Request, ctx: Ctx
) -> CommandResult:
    """GetDiagnostics: the station uploads its log to our upload URL (or `location`)."""
    await known_station(ctx, station_id)

    async def work() -> Answer:
        start, stop = _epoch(body.start), _epoch(body.stop)
        return await ctx.operations.get_diagnostics(
            station_id, base_url(ctx, request), body.location, start, stop
        )

    return result(station_id, await guarded(station_id, work()))


@router.get(STATION + "/diagnostics", response_model=DiagnosticsOut)
async def diagnostics_state(station_id: str, ctx: Ctx) -> DiagnosticsOut:
    """The latest request's progress and the files received."""
    await known_station(ctx, station_id)
    return diagnostics_out(await ctx.operations.diagnostics_state(station_id))


@router.get(STATION + "/diagnostics/{file_id}")
async def diagnostics_file(station_id: str, file_id: RowId, ctx: Ctx) -> Response:
    """A received diagnostics file's bytes."""
    content = await ctx.operations.diagnostics_content(station_id, file_id)
    if content is None:
        raise HTTPException(404, f"diagnostics file {file_id} of station {station_id} not found")
    return Response(content, media_type="application/octet-stream")


# -- what stations reach without the API token ----------------------------------------------------


def public_files_app(context: ApiContext) -> FastAPI:
    """The download and upload URLs stations are given; mounted at `FILES_PREFIX`."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.context = context

    @app.get("/firmware/{token}/{name}")
    async def download(token: str, name: str, request: Request) -> Response:
        found = await api_context(request).operations.firmware_download(token)
        if found is None:
            raise HTTPException(404, "no such file")
        stored, content = found
        headers = {"Content-Disposition": f'attachment; filename="{stored.name}"'}
        return Response(content, media_type="application/octet-stream", headers=headers)

    async def upload(token: str, name: str, request: Request) -> dict[str, Any]:
        body = await request.body()
        name, content = _uploaded(request.headers.get("content-type", ""), name, body)
        try:
            stored = await api_context(request).operations.receive_diagnostics(token, name, content)
        except cmd.InvalidCommand as exc:
            raise HTTPException(413, str(exc)) from None
        if stored is None:
            raise HTTPException(404, "no such upload location")
        return {"name": stored.name, "size": stored.size, "sha256": stored.sha256}

    async def upload_unnamed(token: str, request: Request) -> dict[str, Any]:
        return await upload(token, "diagnostics", request)

    app.add_api_route("/diagnostics/{token}/{name}", upload, methods=["PUT", "POST"])
    app.add_api_route("/diagnostics/{token}/", upload_unnamed, methods=["PUT", "POST"])
    return app


def _uploaded(content_type: str, name: str, body: bytes) -> tuple[str, bytes]:
    """The file of an upload: the body, or the first file part of multipart/form-data."""
    if not content_type.lower().startswith("multipart/form-data"):
        return name, body
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return part.get_filename() or name, payload
    raise HTTPException(422, "the multipart upload holds no file")


__all__ = ["FILES_PREFIX", "public_files_app", "router"]
