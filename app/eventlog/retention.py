"""Retention: evict the oldest events when the log is full, never silently.

The rule (requirement 3): keep at least ``keep_events`` events *and* at least
``keep_days`` of them; only once the log holds more than ``max_events`` are the
oldest deleted, oldest first, until it is back to ``max_events`` or the next
event is one that must be kept.

"Oldest" is by sequence number, which is the order things happened in; the wall
clock may have been wrong (a Pi boots without a battery clock). Eviction always
deletes a *prefix* of the log (every event up to some seq) and stops at the first
event that must be kept: an event younger than ``keep_days`` by its UTC stamp, or
one of the newest ``keep_events``. An event stamped in the future (a clock set
ahead) therefore holds back eviction rather than losing younger events, and a
stamp in the past (1970 before NTP) cannot get an event evicted ahead of the
events logged before it. Deleting only prefixes also keeps the sequence numbers
of the log contiguous, so a gap always means eviction (logged) or a damaged log.

Every eviction returns an :class:`Eviction` for the caller to log as a SYSTEM
event "evicted" (:func:`eviction_event`); the writer does so itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from app.eventlog.chain import keep_anchor
from app.eventlog.database import immediate, use_immediate
from app.eventlog.schema import events
from app.events import Cause, EventStamper, Kind, NewEvent

US_PER_DAY = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How much of the log to keep. The defaults meet requirement 3 with room to spare."""

    keep_events: int = 100_000  # never evict one of the newest this many
    keep_days: float = 365.0  # never evict an event younger than this
    max_events: int = 1_000_000  # evict only while the log holds more than this
    max_delete: int = 10_000  # at most this many per transaction (short write locks)

    def __post_init__(self) -> None:
        if self.keep_events < 0 or self.keep_days < 0 or self.max_events < 0:
            raise ValueError("retention limits must not be negative")
        if self.max_delete < 1:
            raise ValueError("max_delete must be at least 1")


@dataclass(frozen=True, slots=True)
class Eviction:
    """What one eviction deleted: ``count`` events, ``first_seq``..``last_seq``."""

    count: int
    first_seq: int
    last_seq: int
    first_utc_us: int  # the earliest and latest UTC stamps among them
    last_utc_us: int
    remaining: int  # events left in the log

    def detail(self) -> dict[str, Any]:
        """The ``detail`` of the SYSTEM "evicted" event."""
        return asdict(self)


def eviction_event(stamper: EventStamper, eviction: Eviction, *, reason: str) -> NewEvent:
    """The SYSTEM "evicted" event that records ``eviction`` (reason: "capacity", "disk-full")."""
    return stamper.make(
        Kind.SYSTEM,
        "evicted",
        Cause.SYSTEM,
        channel="eventlog",
        detail={"reason": reason, **eviction.detail()},
    )


def evict(
    db: Engine | Connection,
    *,
    now_us: int,
    keep_events: int = 100_000,
    keep_days: float = 365.0,
    max_events: int = 1_000_000,
    max_delete: int | None = None,
) -> Eviction | None:
    """Delete the oldest events beyond ``max_events`` that may go; None if none did.

    ``db``: an engine, or a connection not in a transaction (the writer's own);
    the work is one ``BEGIN IMMEDIATE`` transaction. ``now_us``: the current UTC
    time, for ``keep_days``. ``max_delete`` caps one call; call again for more.
    ``max_events=0`` evicts everything that the keep rules allow (used to make
    room when the disk is full).
    """
    if isinstance(db, Engine):
        with immediate(db) as connection:
            return _evict(connection, now_us, keep_events, keep_days, max_events, max_delete)
    use_immediate(db)
    with db.begin():
        return _evict(db, now_us, keep_events, keep_days, max_events, max_delete)


def evict_by_policy(
    db: Engine | Connection, policy: RetentionPolicy, *, now_us: int, make_room: bool = False
) -> Eviction | None:
    """:func:`evict` with ``policy``; ``make_room``: ignore ``max_events`` (disk full)."""
    return evict(
        db,
        now_us=now_us,
        keep_events=policy.keep_events,
        keep_days=policy.keep_days,
        max_events=0 if make_room else policy.max_events,
        max_delete=policy.max_delete,
    )


def _nth_seq(connection: Connection, n: int, *, newest: bool) -> int | None:
    """The seq of the ``n``-th (1-based) oldest or newest event."""
    order = events.c.seq.desc() if newest else events.c.seq.asc()
    query = select(events.c.seq).order_by(order).limit(1).offset(n - 1)
    return connection.execute(query).scalar()


def _evict(
    connection: Connection,
    now_us: int,
    keep_events: int,
    keep_days: float,
    max_events: int,
    max_delete: int | None,
) -> Eviction | None:
    total = connection.execute(select(func.count()).select_from(events)).scalar_one()
    excess = total - max(max_events, keep_events)
    if max_delete is not None:
        excess = min(excess, max_delete)
    if excess <= 0:
        return None
    # The newest candidate: the excess-th oldest event ...
    last = _nth_seq(connection, excess, newest=False)
    assert last is not None
    # ... but not one of the newest keep_events ...
    if keep_events > 0:
        kept = _nth_seq(connection, keep_events, newest=True)
        if kept is not None:
            last = min(last, kept - 1)
    # ... and stop before the first event that is younger than keep_days.
    cutoff_us = now_us - round(keep_days * US_PER_DAY)
    # (``utc_us + 0``: walk the primary key in seq order, not the utc_us index.)
    young = connection.execute(
        select(events.c.seq)
        .where(events.c.seq <= last, events.c.utc_us + 0 >= cutoff_us)
        .order_by(events.c.seq)
        .limit(1)
    ).scalar()
    if young is not None:
        last = young - 1
    span = connection.execute(
        select(
            func.count(),
            func.min(events.c.seq),
            func.max(events.c.seq),
            func.min(events.c.utc_us),
            func.max(events.c.utc_us),
        ).where(events.c.seq <= last)
    ).one()
    count, first_seq, last_seq, first_utc, last_utc = span
    if not count:
        return None
    keep_anchor(connection, last)  # the chain checks from the first row kept
    connection.execute(delete(events).where(events.c.seq <= last))
    return Eviction(
        count=count,
        first_seq=first_seq,
        last_seq=last_seq,
        first_utc_us=first_utc,
        last_utc_us=last_utc,
        remaining=total - count,
    )
