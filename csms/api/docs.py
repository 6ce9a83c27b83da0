"""The API's documentation pages, served with local assets (they work offline).

Swagger UI and ReDoc come from the `fastapi-offline` package (Swagger UI is Apache-2.0, ReDoc and
the package MIT); FastAPI's own pages load them from a CDN and stay blank without internet.

These pages and `/openapi.json` are deliberately public even when `api_token` is set: a browser
cannot add the Bearer header to a page load, and they describe the API without any of its data.
Swagger UI's "Authorize" button takes the token for "Try it out" requests.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
"""swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png."""

PUBLIC_PATHS = ("/docs", "/redoc", "/openapi.json", ASSETS_URL)
"""Paths answered without the API token (and everything under ASSETS_URL)."""


def mount_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` on local assets; create the app with docs_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    # Plain routes: the app-wide token dependency applies only to API routes.
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
