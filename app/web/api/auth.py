"""Claiming the appliance, logging in and out, and the admin's users and API
tokens. Every success and failure is logged (never a password)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.auth import passwords
from app.auth import setup_code as codes
from app.auth.store import AuthError, AuthStore, Role, Token
from app.io.commands import SecurityState
from app.text import Name
from app.timefmt import utc_iso
from app.web import audit as access_log
from app.web.deps import State, WholeNumber
from app.web.errors import ApiError, NotFoundError, answers
from app.web.logins import check_login, throttled
from app.web.models import Problem
from app.web.security import (
    SESSION_COOKIE,
    AccessError,
    Admin,
    Principal,
    Viewer,
    client_address,
)

public = APIRouter(tags=["access"])
router = APIRouter(tags=["access"])

USER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# stricter than app.text.Name (which it implies): plain letters, digits and . _ -
UserName = Annotated[str, Field(min_length=1, max_length=40, pattern=USER_NAME)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetupIn(_In):
    code: str = Field(max_length=64, description="the setup code printed by the appliance")
    name: UserName
    password: str = Field(max_length=passwords.MAX_LENGTH)


class LoginIn(_In):
    name: Name
    password: str = Field(max_length=passwords.MAX_LENGTH)


class PasswordChangeIn(_In):
    current: str = Field(max_length=passwords.MAX_LENGTH)
    new: str = Field(max_length=passwords.MAX_LENGTH)


class UserIn(_In):
    name: UserName
    role: Role
    password: str = Field(max_length=passwords.MAX_LENGTH)


class RoleIn(_In):
    role: Role


class PasswordIn(_In):
    password: str = Field(max_length=passwords.MAX_LENGTH)


class TokenIn(_In):
    name: Name = Field(description="what uses it, e.g. 'VMS'")
    role: Role


class SetupState(BaseModel):
    needed: bool = Field(description="true until the first admin is created")


class SessionOut(BaseModel):
    name: str
    role: Role
    csrf_token: str | None = Field(description="send as X-CSRF-Token on every write")


class UserOut(BaseModel):
    name: str
    role: Role
    created: str
    password_changed: str
    sessions: int


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    created_by: str
    created: str
    last_used: str | None
    revoked: str | None


class NewToken(TokenOut):
    token: str = Field(description="the secret: shown this once, stored only hashed")


def _store(state: State) -> AuthStore:
    return state.auth


async def audit(
    state: State, what: SecurityState, user: str, request: Request, **detail: str
) -> None:
    """A `security` event in the log, with the client's address."""
    await access_log.audit(state.io, what, user, client_address(request), **detail)


def _check_password(password: str, name: str, field: str = "password") -> None:
    found = passwords.problems(password, name)
    if found:
        raise ApiError("; ".join(found), [Problem(field=field, message=m) for m in found], 422)


def start_session(request: Request, response: Response, store: AuthStore, name: str) -> SessionOut:
    user = store.user(name)
    assert user is not None
    session_id, csrf = store.new_session(user, client_address(request))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionOut(name=user.name, role=user.role, csrf_token=csrf)


# -- public: setup and login ------------------------------------------------------


@public.get("/setup")
async def setup_state(state: State) -> SetupState:
    """Whether the appliance still waits for its first admin (nothing else)."""
    return SetupState(needed=not await asyncio.to_thread(_store(state).has_users))


@public.post("/setup", status_code=201, responses=answers(409, 413, 429))
async def setup(state: State, body: SetupIn, request: Request, response: Response) -> SessionOut:
    """Create the first admin with the setup code; setup then closes for good."""
    store = _store(state)
    if await asyncio.to_thread(store.has_users):
        raise ApiError("the appliance is set up already: log in instead", status=409)
    keys = [f"setup:{client_address(request)}"]
    async with state.hashing.slot(wait=False):
        attempt = await asyncio.to_thread(store.attempt, keys)  # counted until it succeeds
        if not attempt.allowed:
            raise throttled(attempt.wait_us)
        if not codes.matches(state.settings.web_state_dir, body.code):
            await audit(state, "setup-failed", body.name, request, reason="wrong setup code")
            raise AccessError("that is not the setup code shown by the appliance", 403)
        await asyncio.to_thread(store.succeeded, keys)
        _check_password(body.password, body.name)
        hashed = await asyncio.to_thread(passwords.hash_password, body.password)
    user = await asyncio.to_thread(store.create_first_admin, body.name, hashed)
    if user is None:  # another setup won the race
        raise ApiError("the appliance is set up already: log in instead", status=409)
    codes.close(state.settings.web_state_dir)
    await audit(state, "setup", user.name, request)
    return await asyncio.to_thread(start_session, request, response, store, user.name)


@public.post("/login", responses=answers(413, 429))
async def login(state: State, body: LoginIn, request: Request, response: Response) -> SessionOut:
    """A session cookie for a user; failures are throttled per account and per
    address (429), and the throttle survives a restart."""
    user = await check_login(state, body.name, body.password, client_address(request))
    return await asyncio.to_thread(start_session, request, response, _store(state), user.name)


# -- the signed-in user -------------------------------------------------------------


@router.get("/session")
async def current_session(who: Viewer) -> SessionOut:
    """Who is asking, with which role (and, for a session, its CSRF token)."""
    return SessionOut(name=who.name, role=who.role, csrf_token=who.csrf)


def _session_only(who: Principal) -> str:
    if who.session_id is None:
        raise ApiError("an API token has no session: this is for people who log in", status=400)
    return who.session_id


@router.post("/logout", status_code=204, responses=answers(400))
async def logout(state: State, who: Viewer, request: Request) -> Response:
    session_id = _session_only(who)
    await asyncio.to_thread(_store(state).end_session, session_id)
    await audit(state, "logout", who.name, request)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/session/password", responses=answers(400, 413))
async def change_password(
    state: State, who: Viewer, body: PasswordChangeIn, request: Request, response: Response
) -> SessionOut:
    """Change your own password: every session of yours ends, this one is renewed."""
    _session_only(who)
    store = _store(state)
    user = await asyncio.to_thread(store.user, who.name)
    async with state.hashing.slot(wait=True):
        good = user is not None and await asyncio.to_thread(
            passwords.verify, user.password_hash, body.current
        )
    if not good:
        await audit(state, "password-change-failed", who.name, request)
        raise ApiError(
            "the current password is wrong", [Problem(field="current", message="wrong")], 422
        )
    _check_password(body.new, who.name, "new")
    async with state.hashing.slot(wait=True):
        hashed = await asyncio.to_thread(passwords.hash_password, body.new)
    await asyncio.to_thread(store.set_password, who.name, hashed)
    await audit(state, "password-changed", who.name, request)
    return await asyncio.to_thread(start_session, request, response, store, who.name)


# -- users (admin) --------------------------------------------------------------------


def _user_out(store: AuthStore, name: str) -> UserOut:
    user = store.user(name)
    if user is None:
        raise NotFoundError(f"there is no user {name!r}")
    return UserOut(
        name=user.name,
        role=user.role,
        created=utc_iso(user.created_us),
        password_changed=utc_iso(user.password_changed_us),
        sessions=store.sessions_of(user.name),
    )


UserPath = Annotated[
    str, Path(min_length=1, max_length=40, pattern=USER_NAME, description="the user's name")
]


@router.get("/users")
async def list_users(state: State, who: Admin) -> list[UserOut]:
    store = _store(state)
    return [await asyncio.to_thread(_user_out, store, u.name) for u in store.users()]


@router.post("/users", status_code=201, responses=answers(409, 413))
async def add_user(state: State, who: Admin, body: UserIn, request: Request) -> UserOut:
    _check_password(body.password, body.name)
    store = _store(state)
    async with state.hashing.slot(wait=True):
        hashed = await asyncio.to_thread(passwords.hash_password, body.password)
    try:
        await asyncio.to_thread(store.add_user, body.name, body.role, hashed)
    except AuthError as exc:
        raise ApiError(str(exc), status=409) from None
    await audit(state, "user-added", who.name, request, account=body.name, role=str(body.role))
    return await asyncio.to_thread(_user_out, store, body.name)


def _refuse(exc: AuthError) -> ApiError:
    text = str(exc)
    return (NotFoundError if text.startswith("there is no") else ApiError)(
        text, status=404 if text.startswith("there is no") else 409
    )


@router.put("/users/{name}", responses=answers(404, 409, 413))
async def set_role(
    state: State, who: Admin, name: UserPath, body: RoleIn, request: Request
) -> UserOut:
    """Change a user's role; their sessions end, so it applies at once."""
    store = _store(state)
    try:
        await asyncio.to_thread(store.set_role, name, body.role)
    except AuthError as exc:
        raise _refuse(exc) from None
    await audit(state, "user-changed", who.name, request, account=name, role=str(body.role))
    return await asyncio.to_thread(_user_out, store, name)


@router.post("/users/{name}/password", status_code=204, responses=answers(404, 413))
async def reset_password(
    state: State, who: Admin, name: UserPath, body: PasswordIn, request: Request
) -> Response:
    """Set a user's password; their sessions end."""
    _check_password(body.password, name)
    store = _store(state)
    async with state.hashing.slot(wait=True):
        hashed = await asyncio.to_thread(passwords.hash_password, body.password)
    try:
        await asyncio.to_thread(store.set_password, name, hashed)
    except AuthError as exc:
        raise _refuse(exc) from None
    await audit(state, "password-reset", who.name, request, account=name)
    return Response(status_code=204)


@router.delete("/users/{name}", status_code=204, responses=answers(404, 409))
async def remove_user(state: State, who: Admin, name: UserPath, request: Request) -> Response:
    """Remove a user: their sessions end and the API tokens they made are revoked."""
    try:
        await asyncio.to_thread(_store(state).remove_user, name)
    except AuthError as exc:
        raise _refuse(exc) from None
    await audit(state, "user-removed", who.name, request, account=name)
    return Response(status_code=204)


# -- API tokens (admin) ---------------------------------------------------------------


def _token_out(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "prefix": token.prefix,
        "created_by": token.created_by,
        "created": utc_iso(token.created_us),
        "last_used": None if token.last_used_us is None else utc_iso(token.last_used_us),
        "revoked": None if token.revoked_us is None else utc_iso(token.revoked_us),
    }


@router.get("/tokens")
async def list_tokens(state: State, who: Admin) -> list[TokenOut]:
    tokens = await asyncio.to_thread(_store(state).tokens)
    return [TokenOut(**_token_out(t)) for t in tokens]


@router.post("/tokens", status_code=201, responses=answers(413))
async def new_token(state: State, who: Admin, body: TokenIn, request: Request) -> NewToken:
    """A token for an integration, with one role. The secret is shown only here.
    It belongs to the user who makes it (for a token made with a token: that
    token's maker): it never does more than that user's role allows now, and it is
    revoked when that user is removed."""
    store = _store(state)
    secret, token = await asyncio.to_thread(store.new_token, body.name, body.role, who.account)
    await audit(state, "token-created", who.name, request, token=token.name, role=str(token.role))
    return NewToken(token=secret, **_token_out(token))


# SQLite's INTEGER range: a larger id is no token, and would overflow the query
TokenId = Annotated[WholeNumber, Path(ge=1, le=2**63 - 1, description="the token's id")]


@router.delete("/tokens/{token_id}", responses=answers(404))
async def revoke_token(state: State, who: Admin, token_id: TokenId, request: Request) -> TokenOut:
    try:
        token = await asyncio.to_thread(_store(state).revoke_token, token_id)
    except AuthError as exc:
        raise NotFoundError(str(exc)) from None
    await audit(state, "token-revoked", who.name, request, token=token.name)
    return TokenOut(**_token_out(token))
