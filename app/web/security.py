"""Who is asking, and may they: sessions (a cookie plus a CSRF token), API tokens
(``Authorization: Bearer``), roles, and the checks every request passes first
(Host allow-list, same-origin writes, security headers). Rules: docs/security.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.store import AuthStore, Role

SESSION_COOKIE = "ab_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class AccessError(Exception):
    """401 (who are you?) or 403 (not allowed); pages turn a 401 into the login page."""

    def __init__(self, message: str, status: int, *, setup: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.setup = setup  # nobody can log in yet: the way on is /setup


@dataclass(frozen=True)
class Principal:
    name: str  # a user's name, or "token:NAME" for an API token
    role: Role  # for a token: its role capped at its maker's current role
    session_id: str | None = None  # None: an API token
    csrf: str | None = None
    user: str = ""  # the account behind it: the user, or the token's maker

    @property
    def account(self) -> str:
        return self.user or self.name


def _auth(request: HTTPConnection) -> AuthStore:
    store: AuthStore = request.app.state.web.auth
    return store


async def look_up(request: HTTPConnection, *, touch: bool = True) -> Principal | None:
    """The session or token behind ``request`` now (None: anonymous), read afresh.
    A bad token is an error rather than anonymous, so a typo does not look like a
    missing role. ``touch=False``: a re-check that does not count as use."""
    store = _auth(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AccessError("use 'Authorization: Bearer <API token>'", 401)
        token = await asyncio.to_thread(store.token, secret.strip(), touch=touch)
        if token is None or token.effective_role is None:
            raise AccessError("this API token is not valid, or it has been revoked", 401)
        return Principal(f"token:{token.name}", token.effective_role, user=token.created_by)
    if session_id := request.cookies.get(SESSION_COOKIE):
        session = await asyncio.to_thread(store.session, session_id, touch=touch)
        if session is not None:
            user = session.user
            return Principal(user.name, user.role, session_id, session.csrf, user.name)
    return None


async def identify(request: HTTPConnection) -> Principal | None:
    """The session or token behind ``request`` (None: anonymous), looked up once
    per request."""
    if hasattr(request.state, "principal"):
        found: Principal | None = request.state.principal
        return found
    principal = await look_up(request)
    request.state.principal = principal
    return principal


async def still_valid(request: HTTPConnection, opened: Principal) -> str | None:
    """Why access given as ``opened`` has ended (None: it has not): for the
    live stream, which outlasts the request that authorised it."""
    try:
        now = await look_up(request, touch=False)
    except AccessError as exc:
        return exc.message
    if now is None:
        return "the session has ended (logged out, expired, or the user was removed)"
    if (now.name, now.role) != (opened.name, opened.role):
        return f"{now.name}'s role is now {now.role}: reconnect"
    return None


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller, who must have at least ``role``. A write through a
    session must also carry the session's CSRF token."""

    async def check(request: Request) -> Principal:
        principal = await identify(request)
        if principal is None:
            raise await anonymous(request)
        if not principal.role.allows(role):
            raise AccessError(
                f"this needs the {role} role; {principal.name} is {principal.role}", 403
            )
        if principal.session_id is not None and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or sent != principal.csrf:
                raise AccessError(
                    "the request has no valid CSRF token: reload the page and try again", 403
                )
        return principal

    return check


async def anonymous(request: HTTPConnection) -> AccessError:
    """The 401 for a request without credentials."""
    if not await asyncio.to_thread(_auth(request).has_users):
        return AccessError(
            "the appliance is not set up yet: open /setup and enter the setup code",
            401,
            setup=True,
        )
    return AccessError("log in first (or send an API token)", 401)


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- before any route ---------------------------------------------------------------


def local_names() -> set[str]:
    """This machine's own names, which the web UI always answers to."""
    names = {"localhost"}
    host = socket.gethostname().lower()
    if host:
        names |= {host, f"{host}.local"}
        fqdn = socket.getfqdn().lower()
        if fqdn and fqdn != "localhost":
            names.add(fqdn)
    return names


def _host_name(host: str) -> str:
    """The name in a Host header, without the port (IPv6 in brackets kept bare)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def host_allowed(host: str, names: set[str]) -> bool:
    """IP literals are always allowed (a rebinding attack needs a name), and so
    are the names in ``names``.

    >>> host_allowed("192.168.1.20:8080", set()), host_allowed("[::1]:8080", set())
    (True, True)
    >>> host_allowed("evil.example", {"localhost"}), host_allowed("LOCALHOST:80", {"localhost"})
    (False, True)
    """
    name = _host_name(host)
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in names


def same_origin(headers: Headers, scheme: str) -> bool:
    """Whether a write comes from our own pages: its Origin (or, failing that, its
    Referer) is this scheme and Host."""
    source = headers.get("origin") or headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return parts.scheme == scheme and parts.netloc.lower() == headers.get("host", "").lower()


class Guard:
    """ASGI middleware: refuses unknown Host headers (DNS rebinding) and writes
    from other origins, and adds the security headers to every response."""

    def __init__(self, app: ASGIApp, allowed_hosts: set[str]) -> None:
        self.app = app
        self.names = {h.lower() for h in allowed_hosts} | local_names()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = None
        if not host_allowed(headers.get("host", ""), self.names):
            problem = (
                400,
                "unknown host name: browse to the appliance by its address or its name "
                "(add other names with ALARMBRIDGE_ALLOWED_HOSTS)",
            )
        elif (
            scope["method"] not in SAFE_METHODS
            and "authorization" not in headers  # API tokens are not sent by browsers
            and not same_origin(headers, scope.get("scheme", "http"))
        ):
            problem = (403, "cross-site request refused: use the appliance's own pages")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra: list[Any] = list(HEADERS)
                if scope["path"].startswith("/api/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        if problem is not None:
            status, text = problem
            response = JSONResponse({"error": text, "problems": []}, status_code=status)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
