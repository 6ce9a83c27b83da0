"""The HTTP API (FastAPI), served by uvicorn on the central system's event loop."""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from csms.api.deps import require_token
from csms.storage.database import UnstorableText

if TYPE_CHECKING:
    from csms.app import CentralSystem

# Modules with a `router`; each area adds its own line.
ROUTER_MODULES = [
    "csms.api.stations",
    "csms.api.transactions",
    "csms.api.sites",
    "csms.api.charging",
    "csms.api.config",
    "csms.api.scn",
]


def create_app(cs: CentralSystem) -> FastAPI:
    """The API for one central system (`app.state.cs`)."""
    app = FastAPI(
        title="csms",
        summary="OCPP 1.6J central system with smart charging for Alfen stations",
        version="0.1.0",
        dependencies=[Depends(require_token)],
    )
    app.state.cs = cs

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

    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/health", tags=["system"])
    async def health() -> dict[str, object]:
        return {"status": "ok", "stations_online": len(cs.registry.online_ids())}

    return app


def _finite(value: Any) -> Any:
    """`value` JSON-ready, with non-finite floats as strings ("nan", "inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return jsonable_encoder(value)
