"""What every API module needs: the central system, bearer-token auth, common errors."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

if TYPE_CHECKING:
    from csms.app import CentralSystem


def get_cs(request: Request) -> CentralSystem:
    cs: CentralSystem = request.app.state.cs
    return cs


CS = Annotated["CentralSystem", Depends(get_cs)]
"""Parameter type that injects the central system into an endpoint."""

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
    token = request.app.state.cs.settings.api_token
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
