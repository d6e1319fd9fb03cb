"""The pages about access: setup and login (open to anyone, and saying nothing
about the appliance's state), your account, and the admin's users and tokens."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth.store import Role
from app.web.deps import State
from app.web.pages import render
from app.web.security import identify, require

public = APIRouter(include_in_schema=False)
router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
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
        return RedirectResponse(_safe_next(next), status_code=303)
    return state.templates.TemplateResponse(
        request, "login.html", {"page": "login", "next": _safe_next(next)}
    )


@router.get("/account", response_class=HTMLResponse, dependencies=[Depends(require(Role.VIEWER))])
async def account_page(request: Request, state: State) -> HTMLResponse:
    return render(state, request, "account.html", page="account")


@router.get("/users", response_class=HTMLResponse, dependencies=[Depends(require(Role.ADMIN))])
async def users_page(request: Request, state: State) -> HTMLResponse:
    return render(state, request, "users.html", page="users", roles=list(Role))
