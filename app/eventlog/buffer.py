"""The writer's in-memory queue: ordered, bounded, and exact about what it drops.

Producers :meth:`~EventBuffer.put` events (any thread, O(1), never waiting for the
database); the writer thread :meth:`~EventBuffer.take`\\ s batches in queue order
and reports them :meth:`~EventBuffer.done` once committed.

Classic group commit: :meth:`~EventBuffer.take` never waits for more once something
is queued. An idle writer takes the first event alone and commits it at once; what
arrives while that commit (its fsync) is in progress queues up and is taken, all of
it up to ``max_batch``, as the next batch. Batches grow with the load, not with a
timer.

At most ``limit`` submitted events wait uncommitted (queued or in the batch being
written). Beyond that the *oldest* are kept (they explain how things got here)
and newer ones are dropped: each run of dropped events is one :class:`Gap` in the
queue, where those events would have been, which the writer turns into a SYSTEM
"events-lost" event saying how many and between which times. The writer's own
events (:class:`Own`: fault raised/cleared, evicted, events-lost) are never
dropped; there are only ever a few of them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from app.events import NewEvent


class Gap:
    """A run of dropped events, in the queue where they would have been."""

    __slots__ = ("count", "first", "last")

    def __init__(self, event: NewEvent) -> None:
        self.count = 1
        self.first = event
        self.last = event

    def add(self, event: NewEvent) -> None:
        """One more dropped event, the newest of the run."""
        self.count += 1
        self.last = event


class Own:
    """An event of the writer's own: never dropped."""

    __slots__ = ("event",)

    def __init__(self, event: NewEvent) -> None:
        self.event = event


class Sync:
    """No event: a reason to write (state the writer keeps, such as the latches)."""

    __slots__ = ()


Item = NewEvent | Gap | Own | Sync


class EventBuffer:
    """The queue between producers and the writer thread. Thread-safe."""

    def __init__(self, *, limit: int, max_batch: int) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Item] = deque()
        self._limit = limit
        self._max_batch = max_batch
        self._user_pending = 0  # submitted events not yet committed (queued or being written)
        self._submitted = 0  # items ever queued (gaps and own events included)
        self._committed = 0  # items ever committed: items commit in queue order
        self._dropped = 0
        self._attempts = 0  # write attempts begun
        self._last_failed = 0  # the number of the last attempt that failed
        self._closed = False  # stop() was called: no more events accepted
        self._aborted = False  # give up now, even with events left
        self._finished = False  # the writer thread has ended
        self._poked = False
        self._inflight: list[Item] = []  # the batch being written

    # -------------------------------------------------------------- producers

    def put(self, event: NewEvent) -> None:
        """Queue a submitted event, or drop and count it if the buffer is full or closed."""
        with self._cond:
            if self._closed or self._user_pending >= self._limit:
                self._dropped += 1
                tail = self._queue[-1] if self._queue else None
                if isinstance(tail, Gap):
                    tail.add(event)
                elif not self._closed:
                    self._append(Gap(event))
                return
            self._user_pending += 1
            self._append(event)

    def put_own(self, event: NewEvent) -> None:
        """Queue one of the writer's own events (never dropped)."""
        with self._cond:
            self._append(Own(event))

    def put_sync(self) -> None:
        """Ask for a write even if no event comes (never dropped)."""
        with self._cond:
            self._append(Sync())

    def _append(self, item: Item) -> None:  # with _cond held
        self._queue.append(item)
        self._submitted += 1
        if len(self._queue) == 1:  # the writer waits only on an empty queue
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every item queued before the call is committed.

        False on timeout, as soon as a write attempt begun after the call fails, or
        if the writer ended.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            target, attempts = self._submitted, self._attempts
            while self._committed < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._last_failed > attempts or self._finished:
                    return False
                self._cond.wait(remaining)
            return True

    # ----------------------------------------------------------- writer thread

    def take(self) -> list[Item] | None:
        """The next batch, in queue order: waits for a first item, then takes what is
        queued (up to ``max_batch``) without waiting for more. None once closed and
        empty, or aborted.
        """
        with self._cond:
            while not (self._queue or self._closed or self._aborted):
                self._cond.wait()
            if self._aborted or not self._queue:
                return None
            count = min(self._max_batch, len(self._queue))
            self._inflight = [self._queue.popleft() for _ in range(count)]
            return self._inflight

    def done(self, items: Sequence[Item]) -> None:
        """``items`` (the last batch taken) are committed."""
        users = sum(1 for item in items if not isinstance(item, Gap | Own | Sync))
        with self._cond:
            self._inflight = []
            self._committed += len(items)
            self._user_pending -= users
            self._cond.notify_all()

    def begin_attempt(self) -> int:
        """A write attempt begins; returns its number."""
        with self._cond:
            self._attempts += 1
            return self._attempts

    def attempt_failed(self, attempt: int) -> None:
        """Write attempt ``attempt`` failed: flushes called before it began return False."""
        with self._cond:
            self._last_failed = max(self._last_failed, attempt)
            self._cond.notify_all()

    def wait_retry(self, seconds: float) -> None:
        """Sleep until the next attempt: ``seconds``, or sooner if poked or aborted."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while (
                not (self._aborted or self._poked)
                and (remaining := deadline - time.monotonic()) > 0
            ):
                self._cond.wait(remaining)
            self._poked = False

    def poke(self) -> None:
        """Wake the writer for an attempt now (something changed)."""
        with self._cond:
            self._poked = True
            self._cond.notify_all()

    def close(self) -> None:
        """Accept no more events; the writer writes what is queued, then ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Make the writer end now, whatever is left."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    def finish(self) -> None:
        """The writer thread has ended."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    # ------------------------------------------------------------------ state

    def unwritten(self) -> dict[str, Any] | None:
        """What is left unwritten (submitted events, not the writer's own): how many,
        and the times of the first and last; None if nothing."""
        with self._cond:
            events: list[NewEvent] = []
            count = 0
            for item in (*self._inflight, *self._queue):
                if isinstance(item, Gap):
                    count += item.count
                    events += (item.first, item.last)
                elif not isinstance(item, Own | Sync):
                    count += 1
                    events.append(item)
        if not count or not events:
            return None
        first, last = events[0], events[-1]
        return {
            "count": count,
            "reason": "not written before the io process stopped",
            "first_utc_us": first.utc_us,
            "last_utc_us": last.utc_us,
            "first_mono_ns": first.mono_ns,
            "last_mono_ns": last.mono_ns,
            "boot_id": first.boot_id,
        }

    @property
    def aborted(self) -> bool:
        """Whether :meth:`abort` was called."""
        with self._cond:
            return self._aborted

    @property
    def submitted(self) -> int:
        """How many items were ever queued (the position of the newest)."""
        with self._cond:
            return self._submitted

    @property
    def committed(self) -> int:
        """How many items were ever committed."""
        with self._cond:
            return self._committed

    @property
    def pending(self) -> int:
        """Items queued or being written, not yet committed."""
        with self._cond:
            return self._submitted - self._committed

    @property
    def dropped(self) -> int:
        """Submitted events dropped because the buffer was full (or closed)."""
        with self._cond:
            return self._dropped
