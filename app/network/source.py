"""Where the delivery loops read committed events: the io socket's live stream, and
the event log itself (read-only, by seq) for everything the stream did not bring.

The stream is only a fast path. Each event it brings is kept in a small window in
memory; a loop that asks for events after its cursor gets them from the window when
the window holds the very next seq, and from the log otherwise (a catch-up after a
restart or an outage, or a stream that was cut: the io process drops a subscriber
that falls 10,000 events behind, and its stream ends when io restarts). While the
stream is down, the log's newest seq is polled once a second, so delivery goes on.
The log is opened read-only (``mode=ro``, ``query_only``): this process never writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from app.eventlog.schema import events
from app.events import Cause, Event, Kind
from app.io.protocol import MAX_LINE, encode

log = logging.getLogger(__name__)

WINDOW = 20_000  # events kept from the stream
POLL_S = 1.0  # how often the log is polled while the stream is down


def event_from_json(data: dict[str, Any]) -> Event:
    """An :class:`Event` from its JSON form (the stream's ``{"event": ...}``)."""
    fields = dict(data)
    fields["kind"] = Kind(fields["kind"])
    fields["cause"] = Cause(fields["cause"])
    return Event(**fields)


class EventSource:
    """Committed events for the delivery loops (see the module's docstring)."""

    def __init__(self, db_path: Path, socket_path: Path) -> None:
        self.db_path = db_path
        self.socket_path = socket_path
        self._db: Engine | None = None
        self._window: OrderedDict[int, Event] = OrderedDict()
        self._newest = 0  # the newest seq known to be committed
        self._changed = asyncio.Condition()
        self.live = False  # whether the io stream is connected now
        self.stream_error: str | None = None
        self._start: asyncio.Future[int] | None = None

    # -- reading --------------------------------------------------------------

    def _engine(self) -> Engine:
        if self._db is None:
            self._db = make_engine(self.db_path, read_only=True, poolclass=NullPool)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()

    async def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a reader of the log (``fn(engine, ...)``) off the event loop."""
        return await asyncio.to_thread(lambda: fn(self._engine(), *args, **kwargs))

    async def after(self, seq: int, limit: int) -> list[Event]:
        """Up to ``limit`` committed events with seq > ``seq``, in seq order."""
        if seq + 1 in self._window:
            found: list[Event] = []
            following = seq + 1
            while len(found) < limit and following in self._window:
                found.append(self._window[following])
                following += 1
            if following > self._newest or len(found) == limit:
                return found
        batch: list[Event] = await self.read(events_after, seq, limit=limit)
        if batch:
            await self._saw(batch[-1].seq)
        return batch

    async def oldest_seq(self) -> int | None:
        """The oldest seq still in the log (None when it is empty)."""

        def oldest(db: Engine) -> int | None:
            with db.connect() as connection:
                value = connection.execute(select(func.min(events.c.seq))).scalar()
            return None if value is None else int(value)

        result: int | None = await self.read(oldest)
        return result

    async def newest_seq(self) -> int:
        def newest(db: Engine) -> int:
            with db.connect() as connection:
                return int(connection.execute(select(func.max(events.c.seq))).scalar() or 0)

        value: int = await self.read(newest)
        await self._saw(value)
        return value

    async def start_point(self) -> int:
        """Where a destination new to the outbox starts: the log's newest seq when it
        starts. Destinations that start together (the process's start) share one read,
        so they all start alike whichever looks first; one added later (the settings
        changed) reads the end again. When the log is not made yet (a new appliance
        whose io process has not created it, or is creating it now): just before its
        first event, once it is there, as everything it will hold is new. A log that
        exists but cannot be read now (locked, being recovered) is read again until it
        can: a failed read never counts as "empty", and never starts anyone at 0."""
        if self._start is None or self._start.done():
            self._start = asyncio.ensure_future(self._find_start())
        return await asyncio.shield(self._start)

    async def _find_start(self) -> int:
        delay, new_log = 0.5, False
        while True:
            problem: Exception | str
            if await asyncio.to_thread(self.db_path.exists):
                try:
                    if not new_log:
                        return await self.newest_seq()
                    oldest = await self.oldest_seq()
                    return 0 if oldest is None else oldest - 1
                except OperationalError as exc:
                    if "no such table" in str(exc):  # io is creating it (one transaction)
                        new_log = True
                    problem = exc
                except Exception as exc:  # any other failure: read it again, never guess
                    problem = exc
            else:
                new_log, problem = True, "it is not made yet"
            log.info("new destinations wait for the event log (%s): %.1f s", problem, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 2.0 if new_log else 5.0)

    async def backlog(self, seq: int) -> tuple[int, Event | None]:
        """How many events are after ``seq``, and the first of them."""

        def count(db: Engine) -> tuple[int, Event | None]:
            with db.connect() as connection:
                n = connection.execute(
                    select(func.count()).select_from(events).where(events.c.seq > seq)
                ).scalar_one()
                first = events_after(connection, seq, limit=1)
            return int(n), (first[0] if first else None)

        result: tuple[int, Event | None] = await self.read(count)
        return result

    async def wait_beyond(self, seq: int, timeout: float) -> None:
        """Return once an event after ``seq`` is known, or after ``timeout`` seconds."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self._newest > seq), timeout)

    async def _saw(self, seq: int) -> None:
        if seq > self._newest:
            self._newest = seq
            async with self._changed:
                self._changed.notify_all()

    # -- following the io stream ------------------------------------------------

    async def follow(self) -> None:
        """Keep a subscription to the io socket's stream, reconnecting forever; poll
        the log while it is down. Runs until cancelled."""
        delay = 0.5
        while True:
            try:
                await self._stream()
                self.stream_error = "the io process closed the stream"
                delay = 0.5
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                self.stream_error = f"io stream: {exc}"
            self.live = False
            end = asyncio.get_running_loop().time() + delay * random.uniform(0.8, 1.2)
            while asyncio.get_running_loop().time() < end:
                await self._poll()
                await asyncio.sleep(min(POLL_S, max(0.0, end - asyncio.get_running_loop().time())))
            delay = min(delay * 2, 5.0)

    async def _poll(self) -> None:
        try:
            await self.newest_seq()
        except Exception as exc:  # no log yet, or io recreating it: try again
            log.debug("polling the log: %s", exc)

    async def _stream(self) -> None:
        reader, writer = await asyncio.open_unix_connection(str(self.socket_path), limit=MAX_LINE)
        try:
            writer.write(encode({"cmd": "subscribe"}))
            await writer.drain()
            reply = json.loads(await reader.readline() or b"{}")
            if not reply.get("ok"):
                raise ValueError(reply.get("error", "the io process refused to subscribe"))
            self.live = True
            self.stream_error = None
            log.info("following the io stream")
            await self._poll()  # events committed before the subscription: from the log
            while line := await reader.readline():
                message = json.loads(line)
                if "event" in message:
                    event = event_from_json(message["event"])
                    self._window[event.seq] = event
                    while len(self._window) > WINDOW:
                        self._window.popitem(last=False)
                    await self._saw(event.seq)
        finally:
            self.live = False
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
