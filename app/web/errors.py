"""Errors: every one answers JSON ``{"error": ..., "problems": [...]}`` on the API
and a page that says what to do on the HTML side."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from app.eventlog.database import EventLogError, InvalidCursorError
from app.io.protocol import ControlError, IoUnavailableError, OutcomeUnknownError
from app.timefmt import TimeFormatError
from app.web.models import ErrorOut, Problem
from app.web.security import AccessError

log = logging.getLogger(__name__)

#: the error responses every API route may give, for the OpenAPI document
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the Host is not one of the appliance's names"},
    401: {"model": ErrorOut, "description": "not logged in, or not a valid API token"},
    403: {"model": ErrorOut, "description": "the role is not enough, or a CSRF/origin check"},
    422: {"model": ErrorOut, "description": "the request is not valid; problems name the fields"},
    503: {"model": ErrorOut, "description": "the io process or the event log is not available"},
}

#: the errors particular routes give, listed on each with :func:`answers`
ROUTE_ERRORS: dict[int, dict[str, Any]] = {
    502: {
        "model": ErrorOut,
        "description": "a destination of the network process did not take the test message "
        "(the error says what its peer answered)",
    },
    400: {
        "model": ErrorOut,
        "description": "the io process refused the request, or an API token asked for what "
        "only a session has; or the Host is not one of the appliance's names",
    },
    404: {
        "model": ErrorOut,
        "description": "no such input, output, schedule, user or token "
        "(or no simulation on real pins)",
    },
    409: {
        "model": ErrorOut,
        "description": "it clashes with what exists: a name taken, a "
        "schedule in use, the last admin, setup done already",
    },
    413: {
        "model": ErrorOut,
        "description": "the request body is larger than the appliance "
        "accepts (1 MiB; 2 MiB for a configuration import)",
    },
    429: {
        "model": ErrorOut,
        "description": "too many failed attempts, or too many logins being checked at once: "
        "wait as long as Retry-After says",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    },
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can also answer ``codes``."""
    return {code: ROUTE_ERRORS[code] for code in codes}


#: the same for a route whose own answer is not JSON (the event stream): FastAPI
#: would document its errors in the route's media type, but they are JSON too
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": error["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for status, error in COMMON_ERRORS.items()
}


class ApiError(Exception):
    """An error with its HTTP status and a message for a person."""

    status = 400

    def __init__(
        self, message: str, problems: Iterable[Problem] = (), status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)
        self.headers: dict[str, str] = {}
        if status is not None:
            self.status = status


class NotFoundError(ApiError):
    status = 404


def problems_from(errors: Sequence[Any], skip: tuple[str, ...] = ("body",)) -> list[Problem]:
    """Problems from pydantic's error list; the field is the dotted location."""
    problems = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in skip]
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        problems.append(Problem(field=".".join(loc) or None, message=message))
    return problems


def summary(problems: list[Problem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)


def invalid(exc: ValidationError, prefix: str = "") -> ApiError:
    """A 422 for a model that failed validation."""
    problems = problems_from(exc.errors())
    for problem in problems:
        if problem.field and prefix:
            problem.field = f"{prefix}.{problem.field}"
    return ApiError(summary(problems), problems, status=422)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def install(app: FastAPI, templates: Jinja2Templates) -> None:
    def respond(request: Request, status: int, error: ErrorOut) -> Response:
        if _wants_html(request):
            return templates.TemplateResponse(
                request,
                "error.html",
                {"code": status, "error": error.error, "page": "error"},
                status_code=status,
            )
        return JSONResponse(error.model_dump(), status_code=status)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        response = respond(request, exc.status, ErrorOut(error=exc.message, problems=exc.problems))
        response.headers.update(exc.headers)
        return response

    async def access(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AccessError)
        if exc.status == 401 and _wants_html(request):
            if exc.setup:
                return RedirectResponse("/setup", status_code=303)
            return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", 303)
        response = respond(request, exc.status, ErrorOut(error=exc.message))
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="alarmbridge"'
        return response

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = problems_from(exc.errors(), skip=("body", "query", "path", "header"))
        return respond(request, 422, ErrorOut(error=summary(problems), problems=problems))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message, status = str(exc.detail), exc.status_code
        if status == 400 and message == "There was an error parsing the body":
            # FastAPI's answer to a body that is not even text: as for broken JSON, a 422
            return respond(request, 422, ErrorOut(error="the request body is not JSON (UTF-8)"))
        if exc.status_code == 404 and message == "Not Found":
            message = f"there is no page or API route at {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        response = respond(request, status, ErrorOut(error=message))
        response.headers.update(exc.headers or {})  # a 405's Allow
        return response

    async def io_unavailable(request: Request, exc: Exception) -> Response:
        return respond(request, 503, ErrorOut(error=str(exc)))

    async def outcome_unknown(request: Request, exc: Exception) -> Response:
        return respond(request, 504, ErrorOut(error=f"outcome unknown: {exc}"))

    async def io_refused(request: Request, exc: Exception) -> Response:
        return respond(request, 400, ErrorOut(error=f"the io process refused: {exc}"))

    async def bad_input(request: Request, exc: Exception) -> Response:
        return respond(request, 422, ErrorOut(error=str(exc)))

    async def database(request: Request, exc: Exception) -> Response:
        log.warning("event log read failed: %s", exc)
        return respond(
            request,
            503,
            ErrorOut(
                error="the event log cannot be read right now (is the io process running?): "
                + str(getattr(exc, "orig", exc))
            ),
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(AccessError, access)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(IoUnavailableError, io_unavailable)
    app.add_exception_handler(OutcomeUnknownError, outcome_unknown)
    app.add_exception_handler(ControlError, io_refused)
    app.add_exception_handler(TimeFormatError, bad_input)
    app.add_exception_handler(InvalidCursorError, bad_input)
    app.add_exception_handler(OperationalError, database)
    app.add_exception_handler(sqlite3.Error, database)
    app.add_exception_handler(EventLogError, database)
