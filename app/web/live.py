"""The live feed: one subscription to the io process, fanned out to every browser.

A thread reads the io process's stream of committed events; another fetches the
io process's status after each burst of events and every couple of seconds. Both
hand their items to the event loop, which copies them into each subscriber's
queue. When the io process goes away the feed says so (``io-down``), retries, and
on reconnecting first replays from the database whatever was committed while it
was away, so a browser never misses an event.

A subscriber that falls ``QUEUE_SIZE`` items behind gets ``None`` and is dropped:
its browser reconnects with ``Last-Event-ID`` and catches up from the database.

Every subscriber's queue gets the very same :class:`LiveItem`; the streams render
an item once, the first time one of them sends it, and keep that in
``LiveItem.rendered`` for the others (``app.web.api.events``): twenty browsers
cost one rendering, not twenty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

from app.eventlog.queries import events_after, last_seq
from app.io.commands import GetStatus
from app.io.protocol import Client, ControlError, Subscription

log = logging.getLogger(__name__)

QUEUE_SIZE = 2000


@dataclass(frozen=True, slots=True)
class LiveItem:
    kind: Literal["event", "status", "io-down"]
    data: dict[str, Any]
    #: what a stream sends for this item, made by the first stream to send it
    rendered: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


Queue = asyncio.Queue[LiveItem | None]


class LiveFeed:
    def __init__(
        self,
        client: Client,
        db: Engine,
        db_path: Path,
        *,
        status_every_s: float = 2.0,
        retry_s: float = 0.5,
    ) -> None:
        self.client = client
        self.db = db
        self.db_path = db_path
        self.status_every_s = status_every_s
        self.retry_s = retry_s
        self._subscribers: set[Queue] = set()
        self._stopping = threading.Event()
        self._dirty = threading.Event()
        self._lock = threading.Lock()
        self._subscription: Subscription | None = None
        self._seq: int | None = None  # the newest event handed on
        self._threads: list[threading.Thread] = []
        self.last: LiveItem | None = None  # the newest status or io-down item

    # -- the event loop's side ---------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for target, name in (
            (self._read_events, "live-events"),
            (self._poll_status, "live-status"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    async def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        with self._lock:
            if self._subscription is not None:
                self._subscription.close()
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 5.0)
        for q in list(self._subscribers):
            self._drop(q)

    def subscribe(self) -> Queue:
        q: Queue = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(q)
        self._dirty.set()  # a fresh status for the newcomer's page
        return q

    def unsubscribe(self, q: Queue) -> None:
        self._subscribers.discard(q)

    def _drop(self, q: Queue) -> None:
        self._subscribers.discard(q)
        while not q.empty():
            q.get_nowait()
        q.put_nowait(None)

    def _fan_out(self, items: list[LiveItem]) -> None:
        for item in items:
            if item.kind != "event":
                self.last = item
        for q in list(self._subscribers):
            try:
                for item in items:
                    q.put_nowait(item)
            except asyncio.QueueFull:
                self._drop(q)

    def _hand_on(self, items: list[LiveItem]) -> None:
        if items and not self._stopping.is_set():
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._fan_out, items)

    # -- the threads ---------------------------------------------------------------

    def _read_events(self) -> None:
        told = False  # said "io-down" since the last connection
        while not self._stopping.is_set():
            try:
                subscription = Subscription(self.client)
            except ControlError as exc:
                if not told:
                    self._hand_on([LiveItem("io-down", {"error": str(exc)})])
                    told = True
                self._stopping.wait(self.retry_s)
                continue
            told = False
            with self._lock:
                self._subscription = subscription
            if self._stopping.is_set():
                subscription.close()
            try:
                with subscription:
                    self._catch_up()
                    self._dirty.set()
                    for event in subscription:
                        self._pass_event(event)
            except (ControlError, OSError, ValueError) as exc:
                log.info("live stream from the io process ended: %s", exc)
            with self._lock:
                self._subscription = None
            self._dirty.set()

    def _catch_up(self) -> None:
        """Events committed while we were not subscribed (none at the very start)."""
        if not self.db_path.exists():
            return
        try:
            if self._seq is None:
                self._seq = last_seq(self.db)
                return
            while batch := events_after(self.db, self._seq, limit=1000):
                for event in batch:
                    self._pass_event(event.to_json())
        except Exception as exc:  # the log may be being recovered: the stream goes on
            log.warning("catching up the live feed from the event log failed: %s", exc)

    def _pass_event(self, event: dict[str, Any]) -> None:
        seq = int(event["seq"])
        if self._seq is not None and seq <= self._seq:
            return
        self._seq = seq
        self._hand_on([LiveItem("event", event)])
        self._dirty.set()

    def _poll_status(self) -> None:
        while not self._stopping.is_set():
            if self._dirty.wait(self.status_every_s):
                self._stopping.wait(0.03)  # let a burst of events settle
                self._dirty.clear()
            if self._stopping.is_set() or not self._subscribers:
                continue
            try:
                item = LiveItem("status", self.client.send(GetStatus()))
            except ControlError as exc:
                item = LiveItem("io-down", {"error": str(exc)})
            self._hand_on([item])
