"""The login form (when `api_token` is set) and logging out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from csms.web.auth import SESSION_COOKIE
from csms.web.console import base, console_of, set_session_cookie

router = APIRouter()


@router.get("/login")
async def login_form(request: Request) -> Response:
    console = console_of(request)
    if not console.sessions.login_required:
        return RedirectResponse(base(request) + "/", status_code=303)
    return console.render(request, "login.html", error=None)


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
    console = console_of(request)
    if not console.sessions.token_matches(token):
        return console.render(request, "login.html", status_code=401, error="wrong token")
    cookie, _session = console.sessions.issue()
    response = RedirectResponse(base(request) + "/", status_code=303)
    set_session_cookie(request, response, cookie)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse(base(request) + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=base(request) or "/")
    return response
