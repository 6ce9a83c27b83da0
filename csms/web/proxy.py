"""`/console/api/v1/...`: the console's state changes, forwarded to the API in-process.

The browser holds a session cookie, not the API token; after the console checked the session
and the CSRF token, the request goes to the API's own route with the token added. So a button
in the console does exactly what the same API call does, with the same validation and the same
answer (the station's status, or the 409/422 message), which the page shows as it is.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request, Response

from csms.web.console import console_of

router = APIRouter()

FORWARDED_HEADERS = ("content-type", "accept")
TIMEOUT_S = 120.0
"""An API call that waits for a station (a reset, a configuration read) may take a while."""


@router.api_route("/api/v1/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
async def forward(path: str, request: Request) -> Response:
    console = console_of(request)
    if console.api is None:
        return Response("console not mounted", status_code=503)
    headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
    if console.context.api_token:
        headers["Authorization"] = f"Bearer {console.context.api_token}"
    transport = httpx.ASGITransport(app=console.api)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://console", timeout=TIMEOUT_S
    ) as client:
        answer = await client.request(
            request.method,
            f"/api/v1/{path}" + (f"?{request.url.query}" if request.url.query else ""),
            content=await request.body(),
            headers=headers,
        )
    if request.method != "GET" and answer.is_success:
        console.forget_views()  # a change (a cap, the mode): the next page shows it, not a cache
    keep = {"content-type": answer.headers.get("content-type", "application/json")}
    return Response(answer.content, status_code=answer.status_code, headers=keep)
