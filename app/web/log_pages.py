"""The event log's pages: the log with its filters, paging (older and newer) and
chart, and one event's page with every field (a configuration change in words)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import islice
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from app.auth.store import Role
from app.eventlog.queries import MAX_LIMIT, encode_cursor, events_after, iter_events, newest
from app.events import Kind
from app.io.commands import GetConfig
from app.timefmt import local_text, parse_moment
from app.web.api.events import Span, event_out, histogram_data
from app.web.changes import config_changes
from app.web.deps import State, WebState
from app.web.errors import ApiError, NotFoundError
from app.web.evidence import annotations_of, relays_of
from app.web.models import EventOut, Histogram
from app.web.pages import attempt, render
from app.web.security import require

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Role.VIEWER))])
DEFAULT_LIMIT = 100


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


@dataclass
class Filters:
    """The log's filters as typed, what they mean, and what is wrong with them."""

    channel: str = ""
    kind: list[str] | None = None
    since: str = ""
    until: str = ""
    limit: int = DEFAULT_LIMIT
    limit_text: str = str(DEFAULT_LIMIT)
    since_us: int | None = None
    until_us: int | None = None
    problems: list[str] | None = None


def check_filters(
    state: WebState,
    channel: str | None,
    kind: list[str] | None,
    since: str | None,
    until: str | None,
    limit: str | None,
    channels: list[str] | None,
) -> Filters:
    """Read the filters; each thing wrong is a sentence saying what and how to fix it."""
    tz = state.settings.tz
    found = Filters(channel=channel or "", since=since or "", until=until or "", problems=[])
    problems: list[str] = []
    known = set(Kind)
    kinds = []
    for k in kind or []:
        if k in known:
            kinds.append(k)
        else:
            problems.append(f"unknown kind {k!r}: the kinds are {', '.join(Kind)}")
    found.kind = kinds
    for key, text, label in (("since_us", since, "From"), ("until_us", until, "Until")):
        try:
            setattr(found, key, parse_moment(text, tz) if text else None)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
    start, end = found.since_us, found.until_us
    if start is not None and end is not None and start >= end:
        problems.append(
            f"From ({local_text(start, tz)}) is not before Until "
            f"({local_text(end, tz)}): nothing can match; swap them or clear one"
        )
    if limit is not None and limit != "":
        found.limit_text = limit
        if limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_LIMIT:
            found.limit = int(limit)
        else:
            problems.append(
                f"Per page must be a whole number from 1 to {MAX_LIMIT}, not {limit!r}; "
                f"showing {DEFAULT_LIMIT}"
            )
    if channel and channels is not None and channel not in channels:
        problems.append(
            f"there is no channel named {channel!r} now (the channels are "
            f"{', '.join(channels)}); events of a renamed channel keep their old name"
        )
    found.problems = problems
    return found


def newer_cursor(
    state: WebState, filters: Filters, first: EventOut, limit: int
) -> tuple[bool, str | None]:
    """Whether there are events newer than ``first`` (the top row), and the cursor of
    the page just above it (None: that page is the newest, no cursor)."""
    above = iter_events(
        state.read_db(),
        channel=filters.channel or None,
        kinds=filters.kind or None,
        since_us=first.utc_us,
        until_us=filters.until_us,
        chunk_size=limit + 2,
    )
    newer = [e for e in islice(above, limit + 2) if (e.utc_us, e.seq) > (first.utc_us, first.seq)]
    if not newer:
        return False, None
    if len(newer) <= limit:
        return True, None
    top = newer[limit]  # the page ends just below this one
    return True, encode_cursor(top.utc_us, top.seq)


@router.get("/events", response_class=HTMLResponse)
async def events_page(
    request: Request,
    state: State,
    channel: str | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
    since: str | None = None,
    until: str | None = None,
    limit: str | None = None,
    cursor: str | None = None,
    span: str = "24h",
) -> HTMLResponse:
    tz = state.settings.tz
    config, _ = await attempt(state.io(GetConfig()))
    names = None
    if config is not None:
        names = [i["name"] for i in config["inputs"]] + [o["name"] for o in config["outputs"]]
    filters = check_filters(state, channel, kind, since, until, limit, names)
    page: list[EventOut] = []
    next_cursor = None
    newer: tuple[bool, str | None] = (False, None)
    error = None
    window = {"since_us": filters.since_us, "until_us": filters.until_us}
    if not any(p.startswith(("From", "Until", "unknown kind")) for p in filters.problems or []):
        try:
            result = await asyncio.to_thread(
                newest,
                state.read_db(),
                channel=filters.channel or None,
                kinds=filters.kind or None,
                limit=filters.limit,
                cursor=cursor or None,
                **window,
            )
            page = [event_out(e, tz) for e in result.events]
            next_cursor = result.next_cursor
            if cursor and page:
                newer = await asyncio.to_thread(
                    newer_cursor, state, filters, page[0], filters.limit
                )
        except (ApiError, ValueError) as exc:
            error = getattr(exc, "message", str(exc))
    chosen: Span = "7d" if span == "7d" else "24h"
    data, _ = await attempt(histogram_data(state, chosen))
    shown = {
        "channel": filters.channel,
        "kind": filters.kind or [],
        "since": filters.since,
        "until": filters.until,
        "limit": filters.limit_text,
    }
    export = {k: v for k, v in shown.items() if v and k != "limit"}
    newer_url = None
    if newer[0]:
        newer_url = str(request.url.remove_query_params("cursor"))
        if newer[1]:
            newer_url = str(request.url.include_query_params(cursor=newer[1]))
    return render(
        state,
        request,
        "events.html",
        page="events",
        events=page,
        next_cursor=next_cursor,
        error=error,
        problems=filters.problems,
        filters=shown,
        older_url=str(request.url.include_query_params(cursor=next_cursor or "")),
        newer_url=newer_url,
        paged=bool(cursor),
        export_url="/api/v1/events/export?" + urlencode(export, doseq=True),
        channels=names or [],
        chart=None if data is None else chart(data),
        span=chosen,
        live=not cursor and not until,
    )


def _rows(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested detail as (dotted name, value) rows."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += _rows(item, f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, "none" if value is None else str(value))]


@router.get("/events/{seq}", response_class=HTMLResponse)
async def event_page(request: Request, state: State, seq: str) -> HTMLResponse:
    """One event with every field; a configuration change as a list of changes."""
    if not (seq.isascii() and seq.isdigit()) or not 1 <= int(seq) < 2**63:
        raise NotFoundError(f"there is no event {seq!r}: an event's number is a whole number")
    found = await asyncio.to_thread(events_after, state.read_db(), int(seq) - 1, limit=1)
    if not found or found[0].seq != int(seq):
        raise NotFoundError(f"there is no event {seq} in the log")
    event = event_out(found[0], state.settings.tz)
    detail: dict[str, Any] = event.detail or {}
    changes = None
    if event.kind == "config" and isinstance(detail.get("old"), dict):
        changes = config_changes(detail["old"], detail.get("new") or {})
        detail = {k: v for k, v in detail.items() if k not in ("old", "new")}
    annotations = await asyncio.to_thread(annotations_of, state.read_db(), event.seq)
    relays = await asyncio.to_thread(relays_of, state.read_db(), event.seq)
    annotated = detail.get("event") if event.kind == "system" else None  # an annotation's event
    return render(
        state,
        request,
        "event.html",
        page="events",
        event=event,
        changes=changes,
        detail_rows=_rows(detail),
        annotations=annotations,
        relays=relays,
        annotated=annotated if isinstance(annotated, int) else None,
    )
