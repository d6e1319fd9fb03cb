"""The pages about access: setup and login (open to anyone, and saying nothing
about the appliance's state), your account, and the admin's users and tokens."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.auth.store import Role
from app.web.api.auth import LoginIn, start_session
from app.web.deps import State
from app.web.errors import ApiError, problems_from, summary
from app.web.logins import check_login
from app.web.pages import render
from app.web.security import AccessError, client_address, identify, require

public = APIRouter(include_in_schema=False)
router = APIRouter(include_in_schema=False)


#: what a path on this appliance may be spelt with: URL characters, no backslash, no
#: control character, no space (a browser drops tabs and newlines from a URL and
#: reads a backslash as a slash, so "/\\evil.example" or "/<TAB>/evil.example" would
#: leave the appliance)
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?#]*")


def safe_next(target: str | None) -> str:
    r"""``target`` if it is a path on this appliance, else ``/`` (no open redirect).

    >>> safe_next("/events?kind=fault"), safe_next("/%5Cevil.example/x")
    ('/events?kind=fault', '/%5Cevil.example/x')
    >>> [safe_next(t) for t in ("//evil.example", "/\\evil.example", "/\t/evil.example")]
    ['/', '/', '/']
    >>> [safe_next(t) for t in ("https://evil.example", "/x\n", None)]
    ['/', '/', '/']
    """
    if not target or not _PATH.fullmatch(target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or target.startswith("//"):
        return "/"
    return target


@public.get("/setup", response_class=HTMLResponse)
async def setup_page(request: Request, state: State) -> Response:
    if await asyncio.to_thread(state.auth.has_users):
        return RedirectResponse("/login", status_code=303)
    return state.templates.TemplateResponse(
        request, "setup.html", {"page": "setup", "code_file": "setup-code"}
    )


@public.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, state: State, next: str | None = None) -> Response:
    if not await asyncio.to_thread(state.auth.has_users):
        return RedirectResponse("/setup", status_code=303)
    if await identify(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return state.templates.TemplateResponse(
        request, "login.html", {"page": "login", "next": safe_next(next)}
    )


@public.post("/login", response_class=HTMLResponse)
async def login_form(request: Request, state: State) -> Response:
    """The login form sent without JavaScript (or before its script has loaded):
    the same checks as ``POST /api/v1/login``; on success, on to ``next``."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=8)
    fields = {key: values[0] for key, values in form.items()}
    target = safe_next(fields.get("next"))
    headers: dict[str, str] = {}
    try:
        body = LoginIn.model_validate({k: fields.get(k, "") for k in ("name", "password")})
        user = await check_login(state, body.name, body.password, client_address(request))
    except ValidationError as exc:
        error, status = summary(problems_from(exc.errors())), 422
    except (AccessError, ApiError) as exc:
        error, status = exc.message, exc.status
        headers = getattr(exc, "headers", {})
    else:
        response = RedirectResponse(target, status_code=303)
        await asyncio.to_thread(start_session, request, response, state.auth, user.name)
        return response
    context = {"page": "login", "next": target, "error": error, "name": fields.get("name", "")}
    page = state.templates.TemplateResponse(request, "login.html", context, status_code=status)
    page.headers.update(headers)
    return page


@router.get("/account", response_class=HTMLResponse, dependencies=[Depends(require(Role.VIEWER))])
async def account_page(request: Request, state: State) -> HTMLResponse:
    return render(state, request, "account.html", page="account")


@router.get("/users", response_class=HTMLResponse, dependencies=[Depends(require(Role.ADMIN))])
async def users_page(request: Request, state: State) -> HTMLResponse:
    return render(state, request, "users.html", page="users", roles=list(Role))
