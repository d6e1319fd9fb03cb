"""The HTML pages: server-rendered, with a little plain JavaScript for live updates
and forms (one small file per feature in ``static/``, no inline script)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
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
from app.web.api.events import event_out, histogram
from app.web.api.schedules import SPANS, build_timeline
from app.web.api.status import get_system
from app.web.deps import State, WebState
from app.web.errors import ApiError, NotFoundError
from app.web.models import EventOut, Histogram
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


@dataclass
class Bar:
    x: float
    y: float
    height: float
    channel: str
    colour: int
    count: int
    label: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    channels: list[tuple[str, int]]
    peak: int
    total: int
    bar_width: float


def chart(data: Histogram, width: int = 1000, height: int = 140) -> Chart:
    """A stacked bar per bucket, one colour per channel, as SVG coordinates."""
    colours = {name: n % 8 for n, name in enumerate(data.channels)}
    totals = [sum(b.counts.values()) for b in data.buckets]
    peak = max(totals, default=0) or 1
    step = width / max(len(data.buckets), 1)
    bars, ticks = [], []
    every = 3 if len(data.buckets) <= 24 else 24
    for index, bucket in enumerate(data.buckets):
        x = index * step
        top = float(height)
        hour = bucket.start_local[11:16]
        if index % every == 0:
            ticks.append((x, hour if every == 3 else bucket.start_local[5:10]))
        for name in data.channels:
            n = bucket.counts.get(name, 0)
            if not n:
                continue
            h = n / peak * (height - 4)
            top -= h
            label = f"{bucket.start_local[:16].replace('T', ' ')}: {name} {n}"
            bars.append(Bar(x + 0.5, top, h, name, colours[name], n, label))
    return Chart(
        width,
        height,
        bars,
        ticks,
        [(name, colours[name]) for name in data.channels],
        max(totals, default=0),
        sum(totals),
        max(step - 1, 0.5),
    )


@router.get("/events", response_class=HTMLResponse)
async def events_page(
    request: Request,
    state: State,
    channel: str | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
    span: str = "24h",
) -> HTMLResponse:
    tz = state.settings.tz
    problems = []
    kinds = [k for k in kind or [] if k in set(Kind)] or None
    window: dict[str, int | None] = {}
    for key, text in (("since_us", since), ("until_us", until)):
        try:
            window[key] = parse_moment(text, tz) if text else None
        except ValueError as exc:
            problems.append(str(exc))
            window[key] = None
    limit = min(max(limit, 1), 1000)
    page: list[EventOut] | None = None
    next_cursor = None
    error = None
    try:
        result = await asyncio.to_thread(
            newest,
            state.read_db(),
            channel=channel or None,
            kinds=kinds,
            limit=limit,
            cursor=cursor or None,
            **window,
        )
        page = [event_out(e, tz) for e in result.events]
        next_cursor = result.next_cursor
    except (ApiError, ValueError) as exc:
        error = getattr(exc, "message", str(exc))
    span = span if span in ("24h", "7d") else "24h"
    data, _ = await attempt(histogram(state, span))  # type: ignore[arg-type]
    config, _ = await attempt(state.io(GetConfig()))
    names = []
    if config is not None:
        names = [i["name"] for i in config["inputs"]] + [o["name"] for o in config["outputs"]]
    filters = {
        "channel": channel or "",
        "kind": kinds or [],
        "since": since or "",
        "until": until or "",
        "limit": limit,
    }
    export = {k: v for k, v in filters.items() if v and k != "limit"}
    return render(
        state,
        request,
        "events.html",
        page="events",
        events=page or [],
        next_cursor=next_cursor,
        error=error,
        problems=problems,
        filters=filters,
        older_url=str(request.url.include_query_params(cursor=next_cursor or "")),
        export_url="/api/v1/events/export?" + urlencode(export, doseq=True),
        channels=names,
        chart=None if data is None else chart(data),
        span=span,
        live=not cursor and not until,
    )


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
