"""The HTML pages: server-rendered, with a little plain JavaScript for live updates
and forms (one small file per feature in ``static/``, no inline script)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import OperationalError

from app import __version__
from app.auth.store import Role
from app.config import MAX_MS, MIN_MS, Config
from app.eventlog.queries import last_seq, newest
from app.events import Cause, Kind
from app.io.commands import GetConfig
from app.io.protocol import ControlError
from app.schedules import ALWAYS
from app.schedules.model import DAY_NAMES, MAX_WINDOWS, WEEKDAYS
from app.settings import Settings
from app.timefmt import TimeFormatError, local_text, parse_moment, utc_iso
from app.web import commission
from app.web.api.events import event_out
from app.web.api.schedules import SPANS, build_timeline
from app.web.api.status import get_system
from app.web.deps import State, WebState
from app.web.errors import ApiError, NotFoundError
from app.web.models import EventOut
from app.web.security import require
from app.web.timeline_view import timeline_view

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Role.VIEWER))])
T = TypeVar("T")
HERE = Path(__file__).parent


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    tz = settings.tz
    env = templates.env
    env.filters["local"] = lambda utc_us: local_text(utc_us, tz)
    env.filters["utc"] = utc_iso
    # an ISO time with its offset (what the walk test's report keeps) in the appliance's zone
    env.filters["local_iso"] = lambda text: local_text(parse_moment(text, tz), tz) if text else ""
    env.globals.update(version=__version__, timezone=settings.timezone, Kind=Kind, Cause=Cause)
    env.globals.update(MIN_MS=MIN_MS, MAX_MS=MAX_MS)  # the limits of durations, one source
    env.globals.update(commission.template_globals())  # recorder profiles (issue #19)
    return templates


async def attempt(call: Awaitable[T]) -> tuple[T | None, str | None]:
    """The result, or the error to show on the page instead."""
    try:
        return await call, None
    except ControlError as exc:
        return None, str(exc)
    except ApiError as exc:
        return None, exc.message


def render(state: WebState, request: Request, name: str, **context: Any) -> HTMLResponse:
    """A page; ``last_seq`` lets its live stream start right after what it shows."""
    try:
        context["last_seq"] = last_seq(state.read_db())
    except (ApiError, OperationalError):
        context["last_seq"] = None
    context.setdefault("who", getattr(request.state, "principal", None))
    return state.templates.TemplateResponse(request, name, context)


async def _recent(state: WebState, limit: int, **filters: Any) -> list[EventOut]:
    page = await asyncio.to_thread(newest, state.read_db(), limit=limit, **filters)
    tz = state.settings.tz
    return [event_out(e, tz) for e in page.events]


async def _live_page(
    request: Request, state: WebState, page: str, *, config: bool = False, events: int = 0
) -> HTMLResponse:
    """A page built on the live status, and optionally the configuration and the
    newest events; whatever cannot be had is shown as missing, never an error."""
    status, error = await attempt(state.status())
    if page == "simulation" and status is not None and not status.simulated:
        raise NotFoundError(
            "the simulation panel is only there when the appliance runs on simulated pins"
        )
    doc = (await attempt(state.io(GetConfig())))[0] if config else None
    recent = (await attempt(_recent(state, events)))[0] if events else None
    settings = None if doc is None else Config.model_validate(doc)
    return render(
        state,
        request,
        f"{page}.html",
        page=page,
        status=status,
        io_error=error,
        config=settings,
        schedule_names=[] if settings is None else [s.name for s in settings.schedules],
        events=recent or [],
    )


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, state: State) -> HTMLResponse:
    return await _live_page(request, state, "dashboard", config=True, events=12)


@router.get("/inputs", response_class=HTMLResponse)
async def inputs_page(request: Request, state: State) -> HTMLResponse:
    return await _live_page(request, state, "inputs", config=True)


@router.get("/outputs", response_class=HTMLResponse)
async def outputs_page(request: Request, state: State) -> HTMLResponse:
    return await _live_page(request, state, "outputs", config=True)


@router.get("/schedules", response_class=HTMLResponse)
async def schedules_page(
    request: Request, state: State, span: str = "24h", start: str | None = None
) -> HTMLResponse:
    span = span if span in SPANS else "24h"
    status, error = await attempt(state.status())
    doc, _ = await attempt(state.io(GetConfig()))
    config = None if doc is None else Config.model_validate(doc)
    schedules = [] if config is None else config.schedules
    users = {} if config is None else {s.name: config.schedule_users(s.name) for s in schedules}
    view = None
    problems = []
    if config is not None:
        try:
            timeline, problem = await attempt(build_timeline(state, span, start or None))
        except TimeFormatError as exc:
            timeline, problem = None, str(exc)
        if timeline is not None:
            view = timeline_view(timeline, state.settings.tz, span, from_now=not start)
        if problem:
            problems.append(problem)
    return render(
        state,
        request,
        "schedules.html",
        page="schedules",
        status=status,
        io_error=error,
        config=config,
        schedules=schedules,
        users=users,
        schedule_index={s.name: n for n, s in enumerate(schedules, 1)},
        timeline=view,
        problems=problems,
        span=span,
        start=start or "",
        always=ALWAYS,
        weekdays=WEEKDAYS,
        day_names=DAY_NAMES,
        max_windows=MAX_WINDOWS,
    )


@router.get("/system", response_class=HTMLResponse)
async def system_page(request: Request, state: State) -> HTMLResponse:
    info, error = await attempt(get_system(state))
    return render(state, request, "system.html", page="system", info=info, io_error=error)


@router.get("/simulation", response_class=HTMLResponse)
async def simulation_page(request: Request, state: State) -> HTMLResponse:
    return await _live_page(request, state, "simulation", events=12)


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request, state: State) -> HTMLResponse:
    """The API reference, from the OpenAPI document (no CDN needed)."""
    spec = request.app.openapi()
    routes = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            params = [
                (p["name"], p["in"], p.get("description", ""), p.get("required", False))
                for p in op.get("parameters", [])
            ]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            routes.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "params": params,
                    "body": ref.rsplit("/", 1)[-1] if ref else None,
                    "tag": (op.get("tags") or ["other"])[0],
                }
            )
    return render(state, request, "docs.html", page="docs", routes=routes, spec=spec)
