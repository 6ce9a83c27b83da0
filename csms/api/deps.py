"""What every API module needs: the services it may use, bearer-token auth, common errors."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csms.alerts.service import AlertReader
from csms.charging.interfaces import ChargingControl
from csms.config.interfaces import ConfigControl
from csms.events import EventBus
from csms.ocpp.link import StationControl
from csms.operations.interfaces import Operations
from csms.storage import Store
from csms.tags.service import TagOperations


@dataclass(frozen=True, slots=True)
class ApiContext:
    """Everything the routers use, handed over by the composition root (csms/app.py) and kept
    on `app.state.context`; the API never sees the central system itself."""

    records: Store
    """The stations', transactions' and events' rows (and, as `records.db`, the database)."""
    stations: StationControl
    """Calls to stations, who is online, last seen, closing a rejected station's link."""
    bus: EventBus
    clock: Callable[[], float]
    charging: ChargingControl
    """Smart charging: the sites' read models and operator caps."""
    config: ConfigControl
    """Configuration management: snapshots, changes, resets, licences, SCN plans."""
    operations: Operations
    """Operator commands, reservations, firmware and diagnostics (csms/operations)."""
    api_token: str | None
    background: set[asyncio.Task[Any]]
    """Short tasks started by requests, kept referenced until they finish."""
    tags: TagOperations
    """Id tags and the stations' local lists."""
    alerts: AlertReader
    """The active alerts."""
    node_id: str = "csms"
    """This process's name (the `node_id` setting, default the host name), shown by the probes."""
    readiness: Callable[[], list[str]] | None = None
    """More reasons `/readyz` fails (a cluster node's lease not held); None on a single node."""


def api_context(request: Request) -> ApiContext:
    """The context of the app serving `request`."""
    context: ApiContext = request.app.state.context
    return context


Ctx = Annotated[ApiContext, Depends(api_context)]
"""Parameter type that injects the API context into an endpoint."""

MAX_ID = 2**63 - 1
"""Row ids are 64-bit; a larger number in a request is a 422, not a database overflow (500)."""

RowId = Annotated[int, Path(ge=0, le=MAX_ID)]
"""Path parameter type of a row id (transaction, snapshot, change, job)."""


_bearer = HTTPBearer(
    auto_error=False,
    description="The `api_token` setting, when set (`CSMS_API_TOKEN` for the `csms` client).",
)


async def require_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """With `api_token` configured every API request needs `Authorization: Bearer <token>`.

    The documentation pages and `/openapi.json` are public on purpose (`csms.api.docs`). The
    `HTTPBearer` dependency declares the scheme in OpenAPI (Swagger UI's "Authorize"); the
    header is checked here, so a missing token and a wrong one get the same 401.
    """
    token = api_context(request).api_token
    if not token:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, i.e. a 500).
    given_bytes = given.strip().encode("utf-8", "surrogateescape")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given_bytes, token.encode()):
        raise HTTPException(401, "missing or wrong API token", {"WWW-Authenticate": "Bearer"})


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")
