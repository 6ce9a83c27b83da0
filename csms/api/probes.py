"""Probes for load balancers, systemd and Kubernetes: `/healthz` (alive) and `/readyz` (ready).

They sit outside `/api/v1` and outside the API token (a probe carries no credentials and shows
nothing secret): `/healthz` answers as long as the event loop runs; `/readyz` answers 200 only
when the database answers within a bound and has every migration this code knows, so a node
is taken out of rotation while its database is unreachable or an upgrade is half done. A
cluster node passes one more check (`extra`: its node lease is held, its listener connected).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from csms.storage.database import Database

log = logging.getLogger(__name__)

PROBE_DB_TIMEOUT_S = 2.0
"""How long `/readyz` waits for the database before it answers 503."""


async def readiness(db: Database, timeout_s: float = PROBE_DB_TIMEOUT_S) -> list[str]:
    """Why this node is not ready (empty when it is)."""
    try:
        pending = await asyncio.wait_for(db.pending_migrations(), timeout_s)
    except TimeoutError:
        return [f"database: no answer within {timeout_s:g} s"]
    except Exception as exc:  # any driver error means the same to a probe
        log.warning("readiness: database query failed: %r", exc)
        return [f"database: {type(exc).__name__}: {exc}".strip().rstrip(":")]
    if pending:
        return [f"migrations not applied: {', '.join(pending)}"]
    return []


def mount_probes(
    app: FastAPI, db: Database, node_id: str, extra: Callable[[], list[str]] | None = None
) -> None:
    """Add `/healthz` and `/readyz` as plain routes (not in the OpenAPI schema, no token);
    `extra()` names further reasons not to be ready."""

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive", "node_id": node_id})

    async def readyz(_request: Request) -> JSONResponse:
        problems = await readiness(db)
        if extra is not None:
            problems += extra()
        body: dict[str, object] = {"status": "not ready" if problems else "ready"}
        body["node_id"] = node_id
        if problems:
            body["problems"] = problems
        return JSONResponse(body, status_code=503 if problems else 200)

    app.add_route("/healthz", healthz, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_route("/readyz", readyz, methods=["GET", "HEAD"], include_in_schema=False)
