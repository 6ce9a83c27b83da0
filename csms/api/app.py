"""The HTTP API (FastAPI), served by uvicorn on the central system's event loop."""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from csms.api.deps import ApiContext, require_token
from csms.api.docs import mount_docs
from csms.api.errors import document_errors
from csms.api.probes import mount_probes
from csms.storage.database import Database, UnstorableText

log = logging.getLogger(__name__)

# Modules with a `router`; each area adds its own line.
ROUTER_MODULES = [
    "csms.api.stations",
    "csms.api.transactions",
    "csms.api.sites",
    "csms.api.charging",
    "csms.api.config",
    "csms.api.scn",
    "csms.api.operations",
    "csms.api.files",
    "csms.api.tags",
    "csms.api.reports",
    "csms.api.events",
    "csms.api.modbus",
    "csms.api.sessions",
]


HEALTH_DB_TIMEOUT_S = 2.0
"""How long the health check waits for the database's answer to `SELECT 1`."""


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: the database does not answer")
    database: str = Field(description='"ok", or why the database check failed')
    database_engine: str = Field(description="sqlite or postgres")
    stations_online: int


def create_app(context: ApiContext) -> FastAPI:
    """The API over the services in `context` (kept on `app.state.context`)."""
    app = FastAPI(
        title="csms",
        summary="OCPP 1.6J central system with smart charging for Alfen stations",
        version="0.1.0",
        dependencies=[Depends(require_token)],
        docs_url=None,  # served with local assets by mount_docs
        redoc_url=None,
    )
    app.state.context = context

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and a NaN/Infinity in a JSON body (Python's
        # parser accepts them) cannot be encoded back: it became a 500. Echo those as text.
        return JSONResponse(status_code=422, content={"detail": _finite(exc.errors())})

    @app.exception_handler(UnstorableText)
    async def unstorable(_request: Request, exc: UnstorableText) -> JSONResponse:
        # U+0000 in a path, query or body value reached the storage, which refuses it on every
        # engine (see csms.storage.database.refuse_nul): the request is wrong, not the server.
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # The documented error body instead of a text/plain page; the traceback is still logged.
        return JSONResponse(status_code=500, content={"detail": "internal error (see the log)"})

    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/api/v1/health",
        tags=["system"],
        response_model=Health,
        responses={503: {"model": Health, "description": "The database does not answer"}},
    )
    async def health(response: Response) -> Health:
        """Liveness with a database check (`SELECT 1` within 2 s); 503 when it fails."""
        database = await _database_state(context.records.db)
        if database != "ok":
            response.status_code = 503
        return Health(
            status="ok" if database == "ok" else "degraded",
            database=database,
            database_engine=context.records.db.engine,
            stations_online=len(context.stations.online_ids()),
        )

    # Firmware downloads and diagnostics uploads: reached by stations, without the API token.
    from csms.api.files import FILES_PREFIX, public_files_app

    app.mount(FILES_PREFIX, public_files_app(context))
    mount_docs(app)
    mount_probes(app, context.records.db, context.node_id, context.readiness)
    document_errors(app)
    return app


async def _database_state(db: Database) -> str:
    """The database's state: "ok" when it answers a trivial query in time, else why not."""
    try:
        await asyncio.wait_for(db.fetchval("SELECT 1"), HEALTH_DB_TIMEOUT_S)
    except TimeoutError:
        return f"down: no answer within {HEALTH_DB_TIMEOUT_S:g} s"
    except Exception as exc:  # any driver error means the same to a health check
        log.warning("health check: database query failed: %r", exc)
        return f"down: {type(exc).__name__}: {exc}".strip().rstrip(":")
    return "ok"


def _finite(value: Any) -> Any:
    """`value` JSON-ready, with non-finite floats as strings ("nan", "inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return jsonable_encoder(value)
