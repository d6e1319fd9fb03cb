"""Reading the event log: pages for the UI, streams for exports, counts.

Pages are newest first, ordered by ``(utc_us, seq)`` and paged by keyset: the
cursor is the position of the last event shown, never an OFFSET, so a page costs
the same however deep it is and events logged meanwhile neither repeat nor go
missing. With a channel the ``(channel, utc_us, seq)`` index serves the query,
without one the ``(utc_us, seq)`` index.

Time filters are on the UTC stamp, which may have been wrong before the clock
synchronised (see ``clock_synced``); ``seq`` is always the true order, used by
:func:`events_after` (catching up a stream).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, func, select, tuple_

from app.eventlog.database import InvalidCursorError
from app.eventlog.rows import row_to_event
from app.eventlog.schema import events
from app.events import Event, Kind

MAX_LIMIT = 1000
MAX_INTEGER = 2**63 - 1  # SQLite's largest INTEGER: a larger number in a query overflows
#: the position of each column in the rows :func:`newest_rows` returns
COLUMN = {name: index for index, name in enumerate(events.c.keys())}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of events, newest first; ``next_cursor`` is None on the last page."""

    events: list[Event]
    next_cursor: str | None


def encode_cursor(utc_us: int, seq: int) -> str:
    """The opaque cursor for the position of an event."""
    return base64.urlsafe_b64encode(f"{utc_us}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """``(utc_us, seq)`` from a cursor made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        utc_text, seq_text = raw.split(":")
        utc_us, seq = int(utc_text), int(seq_text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError(f"not a valid cursor: {cursor!r}") from exc
    if not (-MAX_INTEGER <= utc_us <= MAX_INTEGER and 0 <= seq <= MAX_INTEGER):
        raise InvalidCursorError(f"not a valid cursor: {cursor!r}")
    return utc_us, seq


@contextmanager
def _reading(db: Engine | Connection) -> Iterator[Connection]:
    if isinstance(db, Engine):
        with db.connect() as connection:
            yield connection
    else:
        yield db


def _filters(
    channel: str | None,
    kinds: Iterable[Kind | str] | None,
    since_us: int | None,
    until_us: int | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if channel is not None:
        where.append(events.c.channel == channel)
    if kinds is not None:
        where.append(events.c.kind.in_([Kind(kind).value for kind in kinds]))
    if since_us is not None:
        where.append(events.c.utc_us >= since_us)
    if until_us is not None:
        where.append(events.c.utc_us < until_us)
    return where


def _ordered(
    query: Select[tuple[object, ...]], *, ascending: bool, after: tuple[int, int] | None
) -> Select[tuple[object, ...]]:
    position = tuple_(events.c.utc_us, events.c.seq)
    if ascending:
        if after is not None:
            query = query.where(position > tuple_(*after))
        return query.order_by(events.c.utc_us.asc(), events.c.seq.asc())
    if after is not None:
        query = query.where(position < tuple_(*after))
    return query.order_by(events.c.utc_us.desc(), events.c.seq.desc())


def newest(
    db: Engine | Connection,
    *,
    channel: str | None = None,
    kinds: Iterable[Kind | str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page:
    """The newest ``limit`` events matching the filters, after ``cursor`` if given.

    ``since_us <= utc_us < until_us``; ``kinds``: any of these. Pass the returned
    ``next_cursor`` with the same filters for the next (older) page.
    """
    rows, next_cursor = newest_rows(
        db,
        channel=channel,
        kinds=kinds,
        since_us=since_us,
        until_us=until_us,
        limit=limit,
        cursor=cursor,
    )
    return Page([row_to_event(row._mapping) for row in rows], next_cursor)


def newest_rows(
    db: Engine | Connection,
    *,
    channel: str | None = None,
    kinds: Iterable[Kind | str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[Sequence[Row[Any]], str | None]:
    """:func:`newest` as the rows themselves (every column of ``events``, at the
    positions :data:`COLUMN` gives) and the next cursor: for callers that turn rows
    straight into something else (the events API's JSON) without an :class:`Event`
    in between."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    after = None if cursor is None else decode_cursor(cursor)
    query = select(events).where(*_filters(channel, kinds, since_us, until_us))
    query = _ordered(query, ascending=False, after=after).limit(limit + 1)
    with _reading(db) as connection:
        rows = connection.execute(query).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]._mapping
    return rows[:limit], encode_cursor(last["utc_us"], last["seq"])


def iter_events(
    db: Engine | Connection,
    *,
    channel: str | None = None,
    kinds: Iterable[Kind | str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    ascending: bool = True,
    chunk_size: int = 1000,
) -> Iterator[Event]:
    """Every matching event, oldest first (or newest first), read in chunks.

    Each chunk is its own short read, so an export of the whole log never holds a
    read transaction open (which would stop WAL checkpoints) while it is streamed.
    """
    kinds = None if kinds is None else list(kinds)
    where = _filters(channel, kinds, since_us, until_us)
    after: tuple[int, int] | None = None
    while True:
        query = _ordered(select(events).where(*where), ascending=ascending, after=after)
        with _reading(db) as connection:
            rows = connection.execute(query.limit(chunk_size)).mappings().all()
        for row in rows:
            yield row_to_event(row)
        if len(rows) < chunk_size:
            return
        after = (rows[-1]["utc_us"], rows[-1]["seq"])


def events_after(db: Engine | Connection, after_seq: int, *, limit: int = 1000) -> list[Event]:
    """Up to ``limit`` events with ``seq > after_seq``, in seq order (to catch up a stream)."""
    query = select(events).where(events.c.seq > after_seq).order_by(events.c.seq).limit(limit)
    with _reading(db) as connection:
        return [row_to_event(row) for row in connection.execute(query).mappings()]


def count_events(
    db: Engine | Connection,
    *,
    channel: str | None = None,
    kinds: Iterable[Kind | str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> int:
    """How many events match the filters."""
    query = select(func.count()).select_from(events)
    query = query.where(*_filters(channel, kinds, since_us, until_us))
    with _reading(db) as connection:
        return int(connection.execute(query).scalar_one())


def last_seq(db: Engine | Connection) -> int:
    """The sequence number of the newest committed event (0 for an empty log)."""
    with _reading(db) as connection:
        return int(connection.execute(select(func.max(events.c.seq))).scalar() or 0)


def counts_per_bucket(
    db: Engine | Connection, *, since_us: int, until_us: int, bucket_us: int
) -> dict[int, dict[str | None, int]]:
    """Events per channel in buckets of ``bucket_us`` from ``since_us`` (a chart).

    Returns ``{bucket index: {channel: count}}``; bucket ``i`` starts at
    ``since_us + i * bucket_us``. Served by the ``(utc_us, seq)`` index.
    """
    bucket = ((events.c.utc_us - since_us) // bucket_us).label("bucket")
    query = (
        select(bucket, events.c.channel, func.count())
        .where(events.c.utc_us >= since_us, events.c.utc_us < until_us)
        .group_by(bucket, events.c.channel)
    )
    counts: dict[int, dict[str | None, int]] = {}
    with _reading(db) as connection:
        for index, channel, n in connection.execute(query):
            counts.setdefault(int(index), {})[channel] = int(n)
    return counts


def time_span(db: Engine | Connection) -> tuple[int, int] | None:
    """The oldest and newest UTC stamps in the log, or None when it is empty."""
    query = select(func.min(events.c.utc_us), func.max(events.c.utc_us))
    with _reading(db) as connection:
        oldest, newest_ = connection.execute(query).one()
    return None if oldest is None else (int(oldest), int(newest_))
