"""The site view: per-phase current against the limit, the chart, every socket's limit and why.

The live part is the same fragment template rendered from `GET /api/v1/sites/{id}`'s read
model, pushed over Server-Sent Events each second with the chart's new point.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from csms.api.sites import get_site
from csms.web.console import SAMPLE_INTERVAL_S, Console, base, console_of
from csms.web.history import SERIES, SiteHistory, point

router = APIRouter()


@router.get("/")
async def home(request: Request) -> Response:
    """The first site's view when sites exist, else the stations."""
    sites = list(console_of(request).context.charging.site_ids())
    target = f"/sites/{sites[0]}" if sites else "/stations"
    return RedirectResponse(base(request) + target, status_code=303)


async def _view(console: Console, site_id: str) -> dict[str, Any]:
    """`GET /api/v1/sites/{id}`'s read model (shared by the page, the stream and the chart)."""
    if site_id not in console.context.charging.site_ids():
        await get_site(site_id, console.context)  # the API's 404 with the configured sites
    return console.site_view(site_id)


def _live(console: Console, request: Request, view: dict[str, Any]) -> str:
    template = console.templates.get_template("site_live.html")
    return template.render(view=view, base=base(request), now=console.context.clock())


@router.get("/sites/{site_id}")
async def site_page(site_id: str, request: Request) -> Response:
    console = console_of(request)
    try:
        view = await _view(console, site_id)
    except HTTPException as exc:
        return console.render(request, "error.html", exc.status_code, message=exc.detail)
    history = console.history.get(site_id, SiteHistory.empty())
    return console.render(
        request,
        "site.html",
        view=view,
        live=_live(console, request, view),
        chart=json.dumps({"series": SERIES, "data": history.columns()}),
        connector_caps={
            (cap["station_id"], cap["connector_id"]): cap["limit_a"]
            for cap in view["caps"]["connectors"]
        },
        now=console.context.clock(),
    )


@router.get("/sites/{site_id}/live")
async def site_live(site_id: str, request: Request) -> Response:
    """The live fragment alone (what the event stream sends)."""
    console = console_of(request)
    view = await _view(console, site_id)
    return Response(_live(console, request, view), media_type="text/html")


def _event(name: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n"


@router.get("/sites/{site_id}/events")
async def site_events(site_id: str, request: Request) -> Response:
    """Server-Sent Events: `live` (the fragment's HTML) and `point` (the chart's newest point)."""
    console = console_of(request)
    await _view(console, site_id)  # 404 before the stream starts

    async def stream() -> AsyncIterator[str]:
        last_at: float | None = None
        while not await request.is_disconnected():
            view = await _view(console, site_id)
            yield _event("live", _live(console, request, view))
            p = point(view)
            if p is not None and p[0] != last_at:
                last_at = p[0]
                yield _event("point", json.dumps(p))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(console.closing.wait(), SAMPLE_INTERVAL_S)
            if console.closing.is_set():
                return

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
