"""Request bodies: who may send one, and how large.

ASGI middleware, so it acts before FastAPI reads and parses a body:

* A write to an API route that needs an account is refused (401) before its body
  is read, when the request carries no valid session or token. Only setup and
  login take a body from anyone (and the login form, ``POST /login``).
* A body over ``MAX_BODY`` (1 MiB; ``MAX_CONFIG_BODY`` for a configuration import,
  which may be indented) is refused with 413: at once from its ``Content-Length``,
  or as soon as a body without one (chunked) grows past the limit. Nothing is
  parsed until the whole body is in and within the limit.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.security import SAFE_METHODS, AccessError, anonymous, identify

MAX_BODY = 1 << 20
MAX_CONFIG_BODY = 2 << 20
#: writes anyone may send (everything else needs a session or an API token first)
OPEN_WRITES = frozenset({("POST", "/api/v1/login"), ("POST", "/api/v1/setup"), ("POST", "/login")})


def body_limit(method: str, path: str) -> int:
    return MAX_CONFIG_BODY if (method, path) == ("PUT", "/api/v1/config") else MAX_BODY


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "problems": []}, status, headers)


def too_large(limit: int) -> JSONResponse:
    return _error(413, f"the request body is larger than {limit // (1 << 20)} MiB")


class BodyGuard:
    """Authentication before the body, then the body within its limit (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        needs_account = path.startswith("/api/") and (method, path) not in OPEN_WRITES
        if needs_account and (refused := await self._unknown(scope)):
            await refused(scope, receive, send)
            return
        limit = body_limit(method, path)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _unknown(self, scope: Scope) -> JSONResponse | None:
        """The 401 for a request with no valid session or token (None: it has one)."""
        request = HTTPConnection(scope)
        try:
            if await identify(request) is not None:
                return None
            error = await anonymous(request)
        except AccessError as exc:
            error = exc
        return _error(
            error.status, error.message, {"WWW-Authenticate": 'Bearer realm="alarmbridge"'}
        )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``messages`` first, then whatever ``receive`` says (a disconnect)."""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
