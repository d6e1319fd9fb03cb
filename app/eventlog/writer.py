"""The single writer of the event log: one thread, group commit, commit before acknowledge.

``submit()`` only appends to an in-memory queue (O(1), never touches the
database, never raises), so the relay path never waits for the disk. The writer
thread practises classic group commit: when it is idle a submitted event is
committed at once, alone; whatever is submitted while a commit is in progress
waits and goes, all of it (up to ``max_batch`` rows), into the next one. Each
batch is inserted in one ``BEGIN IMMEDIATE`` transaction (``synchronous=FULL``)
and committed, and only then handed, with its sequence numbers, to
``on_commit``: an event is *accepted* once it is committed. No timer: an
isolated event waits for one fsync, a burst shares one fsync per batch.

When writing fails (disk full, I/O error, read-only, locked for longer than
``busy_timeout``) the batch is rolled back and kept; a fault is raised once
(``on_fault(code, True, message)`` and a FAULT "raised" event queued behind
what was already submitted); ``submit()`` keeps buffering, and the batch is
retried every ``retry_interval_s``. Once a write succeeds the backlog is written
in its original order, then the FAULT "cleared" event is queued and
``on_fault(code, False, message)`` called.

Buffering policy (:mod:`app.eventlog.buffer`): at most ``buffer_limit``
submitted events wait uncommitted, whether the disk is failing or merely slow.
Beyond that the *oldest* are kept and newer ones dropped and counted
(:attr:`EventWriter.dropped`); each run of dropped events becomes, in its place
in the log, one SYSTEM "events-lost" event with how many were lost and the UTC
and monotonic times of the first and last.

Disk full and retention: on SQLITE_FULL the writer first evicts what the
retention policy allows (oldest first, never the newest ``keep_events`` or
anything younger than ``keep_days``; see :mod:`app.eventlog.retention`), logs it
as SYSTEM "evicted" (reason "disk-full") and retries at once; only if nothing
may be evicted, or the retry fails too, is the fault raised. The writer also
runs the capacity eviction (more than ``max_events``) itself, at most every
``retention_interval_s`` after a commit, so eviction never competes with it for
the write lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from app.eventlog.buffer import EventBuffer, Gap, Item, Own, Sync
from app.eventlog.commitstats import CommitStats
from app.eventlog.migration import EVENTLOG_CHANNEL
from app.eventlog.retention import RetentionPolicy, evict_by_policy, eviction_event
from app.eventlog.rows import event_to_row, insert_chained, replace_latches
from app.eventlog.seqstate import SeqKeeper
from app.eventlog.startup import Prepared
from app.eventlog.writeconn import DISK_FULL, IO_ERROR, WriterConnection, classify
from app.events import Cause, Event, EventStamper, Kind, NewEvent

log = logging.getLogger(__name__)

MIN_BUFFER = 1000
MAKE_ROOM_BACKOFF_S = 60.0

__all__ = ["DISK_FULL", "IO_ERROR", "EventWriter", "OnCommit", "OnFault", "classify"]

OnCommit = Callable[[Sequence[Event]], None]
OnFault = Callable[[str, bool, str], None]  # (code, active, message)


class EventWriter:
    """The one thread that writes the event log. See the module docstring.

    ``engine_or_prepared``: the database; given the :class:`Prepared` from
    :func:`~app.eventlog.startup.prepare_database`, its startup events (already
    committed) are handed to ``on_commit`` first. ``on_commit`` and ``on_fault``
    run on the writer thread: they must be quick and must not call :meth:`flush`;
    their exceptions are logged. ``retention``: the policy for eviction (default
    :class:`RetentionPolicy`), checked after a commit every ``retention_interval_s``.
    """

    def __init__(
        self,
        engine_or_prepared: Engine | Prepared,
        *,
        stamper: EventStamper,
        on_commit: OnCommit | None = None,
        on_fault: OnFault | None = None,
        max_batch: int = 500,
        buffer_limit: int = 10_000,
        retry_interval_s: float = 1.0,
        retention: RetentionPolicy | None = None,
        retention_interval_s: float = 3600.0,
    ) -> None:
        if buffer_limit < MIN_BUFFER:
            raise ValueError(f"buffer_limit must be at least {MIN_BUFFER}")
        if max_batch < 1 or retry_interval_s <= 0:
            raise ValueError("max_batch >= 1, retry_interval_s > 0")
        self._keeper: SeqKeeper | None = None
        if isinstance(engine_or_prepared, Prepared):
            engine = engine_or_prepared.engine
            self._startup: tuple[Event, ...] = engine_or_prepared.events
            self._keeper = engine_or_prepared.keeper
        else:
            engine = engine_or_prepared
            self._startup = ()
        self._db = WriterConnection(engine)
        self._stamper = stamper
        self._on_commit = on_commit
        self._on_fault = on_fault
        self._retry_s = retry_interval_s
        self._retention = RetentionPolicy() if retention is None else retention
        self._retention_s = retention_interval_s
        self._buffer = EventBuffer(limit=buffer_limit, max_batch=max_batch)
        self.commits = CommitStats()  # recorded by the writer thread, read by anyone
        self._lock = threading.Lock()
        self._fault: tuple[str, str] | None = None  # guarded by _lock
        self._latches: tuple[list[str], int, str | None] | None = None  # guarded by _lock
        # Writer thread only:
        self._backlog_end: int | None = None  # after a fault: the last item of the backlog
        self._next_retention = 0.0
        self._next_make_room = 0.0
        self._thread = threading.Thread(target=self._run, name="eventlog-writer", daemon=True)

    # ----------------------------------------------------------------- public API

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, event: NewEvent) -> None:
        """Queue ``event`` for writing. Thread-safe, O(1); never blocks on the database."""
        self._buffer.put(event)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted before the call is committed.

        False on timeout, or as soon as a write attempt fails (disk failing).
        """
        return self._buffer.flush(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Write what can be written within ``timeout``, then end the thread.

        Events submitted after this call are dropped (counted in :attr:`dropped`).
        """
        self._buffer.close()
        if self.fault is not None:  # the disk is failing: one more try, not a long wait
            timeout = min(timeout, self._retry_s + 0.5)
            self._buffer.poke()
        if self._thread.ident is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._buffer.abort()
                self._thread.join(max(self._retry_s, 1.0) + 1.0)
        unwritten = self._buffer.unwritten()
        if unwritten is not None:
            log.error(
                "event log: %d events could not be written before stopping", unwritten["count"]
            )
        if self._keeper is not None and not self._thread.is_alive():
            try:
                self._keeper.close(clean=True, lost=unwritten)
            except OSError:
                log.exception("event log: could not record the high-water mark at stop")

    @property
    def pending(self) -> int:
        """Events (and writer notices) submitted but not yet committed."""
        return self._buffer.pending

    @property
    def fault(self) -> str | None:
        """``"disk-full"``, ``"io-error"`` or None."""
        with self._lock:
            return None if self._fault is None else self._fault[0]

    @property
    def dropped(self) -> int:
        """How many submitted events were dropped because the buffer was full."""
        return self._buffer.dropped

    def set_latches(self, outputs: Sequence[str], utc_us: int, source: str | None) -> None:
        """Store the latched outputs with the next write (in order with the events
        submitted before: a manual start's latch is kept when its event is). Never
        blocks or fails: on a full disk they wait, as events do."""
        with self._lock:
            self._latches = (list(outputs), utc_us, source)
        self._buffer.put_sync()
        self._buffer.poke()  # a failing writer tries at once (a flush learns of it now)

    def set_max_page_count(self, pages: int | None) -> None:
        """Cap the database size on the writer's connection (``PRAGMA max_page_count``).

        For tests and fault drills: a cap at or below the current size (1 will do:
        SQLite raises it to the current size) makes every write that needs a new
        page fail with SQLITE_FULL, exactly as a full disk does. None restores the
        default. Applied before the next write; a failing writer retries at once.
        """
        self._db.set_max_page_count(pages)
        self._buffer.poke()

    # --------------------------------------------------------------- the thread

    def _run(self) -> None:
        try:
            self._publish(self._startup)
            while (items := self._buffer.take()) is not None:
                batch, rows = self._prepare(items)
                while (committed := self._write(batch, rows)) is None:
                    self._buffer.wait_retry(self._retry_s)
                    if self._buffer.aborted:
                        return
                self._buffer.done(items)
                self._publish(committed)
                self._after_success()
                if self._keeper is not None:
                    self._extend_reservation()
        except BaseException:  # a bug: say so loudly
            log.exception("event log writer crashed")
            with self._lock:
                self._fault = (IO_ERROR, "event log writer crashed")
            raise
        finally:
            self._db.close()
            self._buffer.finish()

    def _notice(self, kind: Kind, state: str, detail: dict[str, Any]) -> NewEvent:
        """One of the writer's own events, on channel "eventlog"."""
        return self._stamper.make(
            kind, state, Cause.SYSTEM, channel=EVENTLOG_CHANNEL, detail=detail
        )

    def _prepare(self, items: Sequence[Item]) -> tuple[list[NewEvent], list[dict[str, Any]]]:
        """The events and rows for a batch: gaps become "events-lost" notices."""
        batch: list[NewEvent] = []
        rows: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, Sync):
                continue
            if isinstance(item, Gap):
                event = self._notice(
                    Kind.SYSTEM,
                    "events-lost",
                    {
                        "count": item.count,
                        "reason": "buffer full",
                        "first_utc_us": item.first.utc_us,
                        "last_utc_us": item.last.utc_us,
                        "first_mono_ns": item.first.mono_ns,
                        "last_mono_ns": item.last.mono_ns,
                        "boot_id": item.first.boot_id,
                    },
                )
            else:
                event = item.event if isinstance(item, Own) else item
            try:
                row = event_to_row(event)
            except Exception as exc:  # a malformed event must not block the log
                error = f"{type(exc).__name__}: {exc}"
                event = self._notice(
                    Kind.SYSTEM, "event-rejected", {"error": error, "event": repr(event)[:2000]}
                )
                row = event_to_row(event)
            batch.append(event)
            rows.append(row)
        return batch, rows

    def _write(self, batch: list[NewEvent], rows: list[dict[str, Any]]) -> list[Event] | None:
        """Commit ``batch``; on failure make room or raise the fault, and return None."""
        may_make_room = may_checkpoint = True
        while True:
            attempt = self._buffer.begin_attempt()
            started = time.perf_counter()
            try:
                connection = self._db.get()
                if self._keeper is not None:  # numbers are reserved before they are used
                    self._keeper.before_commit(len(batch))
                with self._lock:
                    latches = self._latches
                with connection.begin():
                    committed, chained = insert_chained(connection, batch, rows)
                    if latches is not None:
                        replace_latches(connection, *latches)
                if latches is not None:
                    with self._lock:
                        if self._latches is latches:
                            self._latches = None
                if self._keeper is not None and committed:
                    self._mark(committed[-1].seq, chained)
                self.commits.record(time.perf_counter() - started, len(committed))
                return committed
            except Exception as exc:
                code, message = classify(exc)
                self._db.reset_after_failure(keep=code == DISK_FULL)
                if code == DISK_FULL and may_checkpoint:
                    # The write-ahead log may hold most of a small disk: fold it into
                    # the database, cut it, and try again.
                    may_checkpoint = False
                    if self._db.checkpoint():
                        continue
                if code == DISK_FULL and may_make_room:
                    may_make_room = False
                    if self._make_room():
                        continue
                self._failed(code, message, attempt)
                return None

    def _mark(self, last_seq: int, last_hash: bytes | None) -> None:
        """The high-water mark, before the events are handed on (best effort: the
        events are committed whatever happens to this file)."""
        assert self._keeper is not None
        try:
            self._keeper.committed(last_seq, last_hash)
        except OSError:
            log.warning("event log: could not record the high-water mark", exc_info=True)

    def _make_room(self) -> bool:
        """On SQLITE_FULL: evict what the retention policy allows. True if any went."""
        if time.monotonic() < self._next_make_room:
            return False
        try:
            connection = self._db.get()
            now_us = self._stamper.clock.utc_us()
            eviction = evict_by_policy(connection, self._retention, now_us=now_us, make_room=True)
        except Exception:
            log.warning("event log: evicting to make room failed", exc_info=True)
            self._db.reset_after_failure(keep=True)
            return False
        if eviction is None:  # nothing may go: do not count the log again for a while
            self._next_make_room = time.monotonic() + MAKE_ROOM_BACKOFF_S
            return False
        log.warning("event log: disk full; evicted %d old events", eviction.count)
        self._buffer.put_own(eviction_event(self._stamper, eviction, reason="disk-full"))
        return True

    def _failed(self, code: str, message: str, attempt: int) -> None:
        self._buffer.attempt_failed(attempt)
        self._backlog_end = None
        with self._lock:
            raise_now = self._fault is None
            if raise_now:
                self._fault = (code, message)
        if raise_now:
            log.error("event log: writing failed (%s): %s; buffering in memory", code, message)
            detail = {"code": code, "message": message}
            self._buffer.put_own(self._notice(Kind.FAULT, "raised", detail))
            self._notify_fault(code, True, message)

    def _after_success(self) -> None:
        with self._lock:
            fault = self._fault
        if fault is not None:
            if self._backlog_end is None:  # first success: write the backlog first
                self._backlog_end = self._buffer.submitted
            if self._buffer.committed >= self._backlog_end:
                self._backlog_end = None
                code, message = fault[0], "writing to the event log works again"
                log.warning("event log: %s cleared; the buffered events are written", code)
                detail = {"code": code, "message": message}
                # Queued before the fault is shown cleared: "no fault, nothing pending"
                # then means the "cleared" row is written too.
                self._buffer.put_own(self._notice(Kind.FAULT, "cleared", detail))
                with self._lock:
                    self._fault = None
                self._notify_fault(code, False, message)
        if time.monotonic() >= self._next_retention:
            self._run_retention()
        self._db.tune_if_due()

    def _run_retention(self) -> None:
        try:
            connection = self._db.get()
            now_us = self._stamper.clock.utc_us()
            eviction = evict_by_policy(connection, self._retention, now_us=now_us)
        except Exception:
            log.warning("event log: retention failed; will try again", exc_info=True)
            self._db.reset_after_failure(keep=True)
            eviction = None
        more = eviction is not None and eviction.count >= self._retention.max_delete
        self._next_retention = time.monotonic() + (0.0 if more else self._retention_s)
        if eviction is not None:
            self._buffer.put_own(eviction_event(self._stamper, eviction, reason="capacity"))

    def _extend_reservation(self) -> None:
        assert self._keeper is not None
        try:
            self._keeper.extend_ahead()
        except OSError:  # the next commit reserves what it needs, or fails and says so
            log.warning("event log: could not reserve sequence numbers ahead", exc_info=True)

    def _publish(self, events: Sequence[Event]) -> None:
        if events and self._on_commit is not None:
            try:
                self._on_commit(events)
            except Exception:
                log.exception("event log: on_commit failed")

    def _notify_fault(self, code: str, active: bool, message: str) -> None:
        if self._on_fault is not None:
            try:
                self._on_fault(code, active, message)
            except Exception:
                log.exception("event log: on_fault failed")
