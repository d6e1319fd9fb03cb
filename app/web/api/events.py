"""The event log: pages with a keyset cursor, exports, a chart, and the live stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic_core import to_json

from app.eventlog.queries import (
    MAX_INTEGER,
    MAX_LIMIT,
    counts_per_bucket,
    events_after,
    iter_events,
    newest_rows,
)
from app.eventlog.readers import ThreadReaders
from app.events import Event, Kind
from app.exports import csv_lines, jsonl_lines
from app.timefmt import local_iso, parse_moment, utc_iso
from app.web.deps import State, WebState, WholeNumber
from app.web.errors import JSON_ERRORS, ApiError
from app.web.event_json import page_json
from app.web.live import LiveItem
from app.web.models import EventOut, EventPage, Histogram, HistogramBucket, Problem, status_from_io
from app.web.security import Principal, identify, still_valid
from app.web.summary import summary

router = APIRouter(tags=["events"])

RECONNECT_MS = 2000
RECHECK_S = 1.0  # a live stream re-checks its session or token at least this often
CATCH_UP_MAX = 10_000  # events replayed to a reconnecting browser; more: reload the page

Channel = Annotated[str | None, Query(description="an input's or output's name")]
Kinds = Annotated[list[Kind] | None, Query(alias="kind", description="any of these kinds")]
Since = Annotated[
    str | None,
    Query(description="ISO 8601; without an offset it is in the appliance's time zone"),
]
Until = Annotated[str | None, Query(description="ISO 8601, exclusive")]


def present(event: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """An event as the API shows it: with its UTC and local times spelled out."""
    return {
        **event,
        "utc": utc_iso(event["utc_us"]),
        "local": local_iso(event["utc_us"], tz),
        "summary": summary(event, tz),
    }


def event_out(event: Event, tz: tzinfo) -> EventOut:
    """A committed event as the API and the pages show it."""
    return EventOut.model_validate(present(event.to_json(), tz))


def _window(state: State, since: str | None, until: str | None) -> tuple[int | None, int | None]:
    tz = state.settings.tz
    start = None if since is None else parse_moment(since, tz)
    end = None if until is None else parse_moment(until, tz)
    if start is not None and end is not None and start >= end:
        raise ApiError(
            f"since ({since}) is not before until ({until}): nothing can match",
            [Problem(field="since", message="must be before until")],
            status=422,
        )
    return start, end


def _page(
    readers: ThreadReaders,
    tz: tzinfo,
    *,
    channel: str | None,
    kinds: list[Kind] | None,
    since_us: int | None,
    until_us: int | None,
    limit: int,
    cursor: str | None,
) -> bytes:
    """The query and the JSON, both in the worker thread (on its own connection)."""
    with readers.connection() as connection:
        rows, next_cursor = newest_rows(
            connection,
            channel=channel,
            kinds=kinds,
            since_us=since_us,
            until_us=until_us,
            limit=limit,
            cursor=cursor,
        )
    return page_json(rows, next_cursor, tz)


@router.get("/events", response_model=EventPage)
async def list_events(
    state: State,
    channel: Channel = None,
    kinds: Kinds = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[WholeNumber, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Response:
    """The newest events matching the filters, newest first, one page at a time."""
    since_us, until_us = _window(state, since, until)
    state.read_db()  # a clear 503 before the io process has made the log
    body = await asyncio.to_thread(
        _page,
        state.readers,
        state.settings.tz,
        channel=channel,
        kinds=kinds,
        since_us=since_us,
        until_us=until_us,
        limit=limit,
        cursor=cursor,
    )
    return Response(body, media_type="application/json")


@router.get(
    "/events/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/jsonl": {}}}},
)
def export_events(
    state: State,
    format: Annotated[Literal["csv", "jsonl"], Query(description="csv or jsonl")] = "csv",
    channel: Channel = None,
    kinds: Kinds = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    """Every matching event, oldest first, as a CSV or JSON-lines file (streamed)."""
    since_us, until_us = _window(state, since, until)
    db = state.read_db()
    rows: Iterator[dict[str, Any]] = (
        e.to_json()
        for e in iter_events(db, channel=channel, kinds=kinds, since_us=since_us, until_us=until_us)
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    if format == "csv":
        body, media = csv_lines(rows, state.settings.tz), "text/csv; charset=utf-8"
    else:
        body, media = jsonl_lines(rows), "application/jsonl"
    return StreamingResponse(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="alarmbridge-events-{stamp}.{format}"'
        },
    )


SPANS = {"24h": (24 * 3600, 3600), "7d": (7 * 24 * 3600, 3600)}


Span = Literal["24h", "7d"]


@router.get("/events/histogram")
async def histogram(state: State, span: Annotated[Span, Query()] = "24h") -> Histogram:
    """Events per hour per channel over the last 24 hours or 7 days."""
    return await histogram_data(state, span)


async def histogram_data(state: WebState, span: Span) -> Histogram:
    """The histogram's data, for the API and the event log page alike."""
    length_s, bucket_s = SPANS[span]
    now_us = time.time_ns() // 1000
    hour_us = 3600 * 1_000_000
    until_us = (now_us // hour_us + 1) * hour_us  # to the end of this hour
    since_us = until_us - length_s * 1_000_000
    counts = await asyncio.to_thread(
        counts_per_bucket,
        state.read_db(),
        since_us=since_us,
        until_us=until_us,
        bucket_us=bucket_s * 1_000_000,
    )
    tz = state.settings.tz
    names = sorted({name or "appliance" for bucket in counts.values() for name in bucket})
    buckets = []
    for index in range(length_s // bucket_s):
        start = since_us + index * bucket_s * 1_000_000
        found = counts.get(index, {})
        buckets.append(
            HistogramBucket(
                start_utc=utc_iso(start),
                start_local=local_iso(start, tz),
                counts={(name or "appliance"): n for name, n in found.items()},
            )
        )
    return Histogram(span=span, bucket_s=bucket_s, channels=names, buckets=buckets)


def _render(item: LiveItem, tz: tzinfo) -> ServerSentEvent:
    if item.kind == "event":
        data = present(item.data, tz)
        seq: str | None = str(item.data["seq"])
    elif item.kind == "status":  # the same document as GET /api/v1/status
        data, seq = status_from_io(item.data).model_dump(mode="json"), None
    else:
        data, seq = item.data, None
    return ServerSentEvent(
        event=item.kind, id=seq, raw_data=to_json(data, inf_nan_mode="null").decode()
    )


def _sse(item: LiveItem, tz: tzinfo) -> ServerSentEvent:
    """The item as an SSE message, rendered once for every stream that sends it
    (the live feed hands the same item to all)."""
    rendered: ServerSentEvent | None = item.rendered.get("sse")
    if rendered is None:
        rendered = item.rendered["sse"] = _render(item, tz)
    return rendered


def _seq(text: str | None) -> int | None:
    """A Last-Event-ID as the seq it names (None: absent, or not one of ours).

    >>> _seq("42"), _seq("²"), _seq("99999999999999999999"), _seq(None)
    (42, None, None, None)
    """
    if not text or not (text.isascii() and text.isdigit()) or int(text) > MAX_INTEGER:
        return None
    return int(text)


@router.get(
    "/events/stream",
    response_class=EventSourceResponse,
    responses=JSON_ERRORS,  # its errors are JSON, not events
)
async def stream(
    state: State,
    request: Request,
    after: Annotated[
        WholeNumber | None,
        Query(
            ge=0, le=MAX_INTEGER, description="replay events with a higher seq first (from the log)"
        ),
    ] = None,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> AsyncIterable[ServerSentEvent]:
    """Server-sent events: ``event`` (each committed event, ``id`` = its seq),
    ``status`` (the live status, after changes and every 2 s) and ``io-down``.
    A browser that reconnects sends ``Last-Event-ID`` and first gets what it missed.
    The session or token is checked again every second: when it ends (logout,
    revocation, expiry, a removed user or a changed role) the stream sends
    ``ended`` with the reason and closes."""
    feed, tz = state.feed, state.settings.tz
    opened = await identify(request)
    assert opened is not None  # the router's viewer check let it in
    queue = feed.subscribe()
    try:
        high = after
        if (seq := _seq(last_event_id)) is not None:
            high = max(high or 0, seq)
        yield ServerSentEvent(comment="AlarmBridge live stream", retry=RECONNECT_MS)
        if high is not None and state.settings.db_path.exists():
            replayed = 0
            while replayed < CATCH_UP_MAX and (
                batch := await asyncio.to_thread(events_after, state.db, high, limit=500)
            ):
                for event in batch:
                    yield _sse(LiveItem("event", event.to_json()), tz)
                high = batch[-1].seq
                replayed += len(batch)
        if feed.last is not None:
            yield _sse(feed.last, tz)
        async for item in _while_valid(request, opened, queue):
            if isinstance(item, str):
                yield ServerSentEvent(event="ended", data={"reason": item})
                return
            if item.kind == "event" and high is not None and item.data["seq"] <= high:
                continue
            yield _sse(item, tz)
    finally:
        feed.unsubscribe(queue)


async def _while_valid(
    request: Request, opened: Principal, queue: asyncio.Queue[LiveItem | None]
) -> AsyncIterator[LiveItem | str]:
    """The queue's items while the caller's access lasts (checked before an item
    goes out, at most every ``RECHECK_S``, and every ``RECHECK_S`` when idle); then
    the reason it ended. Stops when the feed drops the queue."""
    loop = asyncio.get_running_loop()
    checked = loop.time()
    while True:
        got: list[LiveItem | None] = []
        try:
            got.append(queue.get_nowait())  # a burst goes out without a timer each
        except asyncio.QueueEmpty:
            with contextlib.suppress(TimeoutError):
                got.append(await asyncio.wait_for(queue.get(), RECHECK_S))
        if loop.time() - checked >= RECHECK_S:
            if (reason := await still_valid(request, opened)) is not None:
                yield reason
                return
            checked = loop.time()
        for item in got:
            if item is None:
                return
            yield item
