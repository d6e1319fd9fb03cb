"""Events to rows and back, and the one way events are inserted."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from app.eventlog.chain import GENESIS, last_hash, link
from app.eventlog.schema import events, latches
from app.events import Cause, Event, Kind, NewEvent


def dump_detail(detail: Mapping[str, Any] | None) -> str | None:
    """Serialise an event's ``detail`` (compact JSON; unknown types as ``str``)."""
    if detail is None:
        return None
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False, default=str)


def event_to_row(event: NewEvent) -> dict[str, Any]:
    """The ``events`` row for ``event``. Raises ``TypeError``/``ValueError`` if malformed."""
    return {
        "utc_us": int(event.utc_us),
        "mono_ns": int(event.mono_ns),
        "boot_id": str(event.boot_id),
        "clock_synced": bool(event.clock_synced),
        "kind": Kind(event.kind).value,
        "channel": None if event.channel is None else str(event.channel),
        "state": str(event.state),
        "cause": Cause(event.cause).value,
        "source": None if event.source is None else str(event.source),
        "dvr_channel": None if event.dvr_channel is None else str(event.dvr_channel),
        "detail": dump_detail(event.detail),
    }


def row_to_event(row: Mapping[Any, Any]) -> Event:
    """The :class:`Event` for an ``events`` row (a mapping such as ``Row._mapping``)."""
    detail = row["detail"]
    return Event(
        kind=Kind(row["kind"]),
        state=row["state"],
        cause=Cause(row["cause"]),
        utc_us=row["utc_us"],
        mono_ns=row["mono_ns"],
        boot_id=row["boot_id"],
        clock_synced=bool(row["clock_synced"]),
        channel=row["channel"],
        dvr_channel=row["dvr_channel"],
        source=row["source"],
        detail=None if detail is None else json.loads(detail),
        seq=row["seq"],
    )


def committed(event: NewEvent, seq: int) -> Event:
    """``event`` as committed with sequence number ``seq``."""
    return Event(
        kind=event.kind,
        state=event.state,
        cause=event.cause,
        utc_us=event.utc_us,
        mono_ns=event.mono_ns,
        boot_id=event.boot_id,
        clock_synced=event.clock_synced,
        channel=event.channel,
        dvr_channel=event.dvr_channel,
        source=event.source,
        detail=event.detail,
        seq=seq,
    )


def insert_events(
    connection: Connection,
    batch: Sequence[NewEvent],
    rows: Sequence[dict[str, Any]] | None = None,
) -> list[Event]:
    """Insert ``batch`` inside the caller's write transaction (see
    :func:`insert_chained`); the events with their sequence numbers."""
    return insert_chained(connection, batch, rows)[0]


def insert_chained(
    connection: Connection,
    batch: Sequence[NewEvent],
    rows: Sequence[dict[str, Any]] | None = None,
    *,
    previous: bytes | None = None,
) -> tuple[list[Event], bytes | None]:
    """Insert ``batch`` (one ``executemany``) inside the caller's write transaction,
    each row numbered and chained to the one before (:mod:`app.eventlog.chain`).

    ``rows``: ``event_to_row`` of each event, if the caller already made them.
    ``previous``: the hash to chain the first row to when the log has no hashed row
    (a new log that goes on from a damaged one). Returns the events with their
    sequence numbers, and the newest hash. The caller holds the write lock
    (``BEGIN IMMEDIATE``), so the numbers after ``sqlite_sequence`` are free; an
    explicit ``seq`` above it moves it on, as AUTOINCREMENT would.
    """
    if not batch:
        return [], None
    if rows is None:
        rows = [event_to_row(event) for event in batch]
    last = connection.exec_driver_sql(
        "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
    ).scalar()
    first = int(last or 0) + 1
    chained = last_hash(connection) or previous or GENESIS
    numbered = []
    for i, row in enumerate(rows):
        full = {**row, "seq": first + i}
        chained = full["hash"] = link(chained, full)
        numbered.append(full)
    connection.execute(events.insert(), numbered)
    return [committed(event, first + i) for i, event in enumerate(batch)], chained


def replace_latches(
    connection: Connection, outputs: Sequence[str], utc_us: int, source: str | None
) -> None:
    """Make the latched outputs (started by hand "until stopped", kept across restarts)
    ``outputs``, inside the caller's write transaction; those already latched keep
    their start time and source."""
    kept = {r.output for r in connection.execute(select(latches.c.output))}
    connection.execute(delete(latches).where(latches.c.output.not_in(list(outputs))))
    for name in outputs:
        if name not in kept:
            connection.execute(
                insert(latches).values(output=name, started_utc_us=utc_us, source=source)
            )
