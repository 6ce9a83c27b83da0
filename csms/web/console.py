"""The web console at `/console` (and `/`): a small FastAPI app mounted on the API's app.

Pages are rendered on the server with Jinja2 from the API's own read models (the console calls
the same functions the API routes are), and live parts update over Server-Sent Events (the site)
or htmx polling (a station). State changes go through the API itself (`/console/api/...` forwards
to it in-process with the token), so the console can do nothing the API refuses and shows the
station's answer exactly as the API gives it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from csms.api.deps import ApiContext
from csms.charging.views import site_view
from csms.web.auth import CSRF_HEADER, SESSION_COOKIE, Session, Sessions
from csms.web.formatting import FILTERS
from csms.web.history import SiteHistory

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

log = logging.getLogger(__name__)

PREFIX = "/console"
STATIC = Path(str(files("csms.web") / "static"))
TEMPLATES = Path(str(files("csms.web") / "templates"))
SAMPLE_INTERVAL_S = 1.0
"""How often the chart history samples each site's read model."""

PAGE_MODULES = [
    "csms.web.auth_pages",
    "csms.web.site_pages",
    "csms.web.station_pages",
    "csms.web.config_pages",
    "csms.web.scn_pages",
    "csms.web.tool_pages",
    "csms.web.proxy",
]
OPEN_PATHS = ("/login", "/static/")
"""Paths (below PREFIX) answered without a session."""


class Console:
    """The console: its app, sessions, and each site's chart history (sampled by `run`)."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self.sessions = Sessions(context.api_token)
        self.history: dict[str, SiteHistory] = {}
        self._views: dict[str, tuple[float, dict[str, Any]]] = {}
        self._templates: Jinja2Templates | None = None
        self.api: FastAPI | None = None
        self.closing = asyncio.Event()
        """Set when the central system stops: live streams end so the server can shut down."""
        self._app: FastAPI | None = None

    @property
    def app(self) -> FastAPI:
        """The console's app, built on the first request (not needed to start serving)."""
        if self._app is None:
            self._app = self._build()
        return self._app

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def _build(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        app.state.console = self
        app.state.context = self.context  # the API's dependencies (`Ctx`) work here too
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
        app.middleware("http")(self._access)
        for name in PAGE_MODULES:
            app.include_router(importlib.import_module(name).router)
        return app

    @property
    def templates(self) -> Jinja2Templates:
        """The page templates, loaded on first use (Jinja2 is not needed to start serving)."""
        if self._templates is None:
            from fastapi.templating import Jinja2Templates

            self._templates = Jinja2Templates(directory=TEMPLATES)
            self._templates.env.filters.update(FILTERS)
        return self._templates

    def mount(self, api: FastAPI) -> None:
        """Serve the console under PREFIX on the API's app, `/` redirecting to it."""
        self.api = api
        api.mount(PREFIX, self._asgi)

        async def home(_request: Request) -> Response:
            return RedirectResponse(PREFIX + "/", status_code=307)

        api.add_route("/", home, include_in_schema=False)

    async def run(self) -> None:
        """Sample every site's read model for the chart until cancelled (at shutdown, which
        also ends the live streams: the API server waits for open responses before it stops)."""
        try:
            while True:
                self.sample()
                await asyncio.sleep(SAMPLE_INTERVAL_S)
        finally:
            self.closing.set()

    def sample(self) -> None:
        for site_id in self.context.charging.site_ids():
            self.site_view(site_id)

    def forget_views(self) -> None:
        """Drop the cached site views (after a change made through the console)."""
        self._views.clear()

    def site_view(self, site_id: str) -> dict[str, Any]:
        """The site's read model (`GET /api/v1/sites/{id}`), computed at most once per sample
        interval however many pages and streams show it; KeyError for an unknown site."""
        started = time.monotonic()
        cached = self._views.get(site_id)
        if cached is not None and started - cached[0] < SAMPLE_INTERVAL_S:
            return cached[1]
        read = self.context.charging.read_site(site_id, self.context.clock())
        if read is None:
            raise KeyError(site_id)
        view = site_view(read)
        self._views[site_id] = (started, view)
        self.history.setdefault(site_id, SiteHistory.empty()).add(view)
        return view

    # -- access ------------------------------------------------------------------------------
    async def _access(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))
        if path.startswith(PREFIX + "/"):  # some servers keep the mount prefix in path
            path = path.removeprefix(PREFIX)
        session = self.sessions.session(request.cookies.get(SESSION_COOKIE))
        issued = None
        if session is None and not self.sessions.login_required:
            issued, session = self.sessions.issue()
        open_path = path.startswith(OPEN_PATHS)
        if session is None and not open_path:
            if request.method == "GET" and "text/html" in request.headers.get("accept", "*/*"):
                return RedirectResponse(f"{base(request)}/login", status_code=303)
            return JSONResponse({"detail": "log in to the console first"}, status_code=401)
        if (
            session is not None
            and request.method not in ("GET", "HEAD", "OPTIONS")
            and not open_path
            and not self.sessions.csrf_ok(session, request.headers.get(CSRF_HEADER))
        ):
            return JSONResponse(
                {"detail": "missing or wrong CSRF token: reload the page"}, status_code=403
            )
        request.state.session = session
        response = await call_next(request)
        if issued is not None:
            set_session_cookie(request, response, issued)
        return response

    def render(
        self, request: Request, template: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        """A page or fragment with the common values (base path, CSRF token, login state)."""
        session: Session | None = getattr(request.state, "session", None)
        values |= {
            "base": base(request),
            "csrf": session.csrf if session else "",
            "login_required": self.sessions.login_required,
            "sites": list(self.context.charging.site_ids()),
        }
        return self.templates.TemplateResponse(request, template, values, status_code=status_code)


def base(request: Request) -> str:
    """The console's URL path prefix as the browser sees it."""
    root: str = request.scope.get("root_path", "")
    return root if root.endswith(PREFIX) else root + PREFIX


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=base(request) or "/",
    )


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console
