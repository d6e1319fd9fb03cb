"""One delivery loop per destination: the cursor, the order, the retries, the losses.

The loop reads the events after its cursor (app.network.source), in seq order and
in batches, hands the ones its destination wants to :meth:`Destination.deliver`, and
moves the cursor (app.network.outbox) only once the peer has taken the batch: at
least once, in order. A failed batch is retried after a backoff of 0.5 s doubling to
5 minutes, with jitter, forever. Events the log's retention removed before the
destination got them are recorded as lost (a range), never skipped without a word.
The io process is told of a backlog grown old and of losses (typed io command
``network-fault``); it never waits for this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.network.destination import Delivery, DeliveryError, Destination
from app.network.outbox import Cursor, Outbox
from app.network.source import EventSource

log = logging.getLogger(__name__)

BATCH = 100
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 300.0

#: raise or clear one of this process's faults: (code, active, message)
FaultReporter = Callable[[str, bool, str], Awaitable[None]]


def backoff_delays(first: float = MIN_BACKOFF_S, last: float = MAX_BACKOFF_S) -> Any:
    """The waits between attempts: doubling from ``first`` to ``last``, each with
    +-20 % jitter (so many appliances do not retry in step).

    >>> import itertools
    >>> waits = list(itertools.islice(backoff_delays(), 12))
    >>> all(0.8 * b <= w <= 1.2 * b for w, b in zip(waits, [0.5, 1, 2, 4, 8, 16, 32, 64]))
    True
    >>> 0.8 * 300 <= waits[-1] <= 1.2 * 300
    True
    """
    delay = first
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(delay * 2, last)


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


@dataclass
class LoopState:
    """What the status shows of a loop that lives only in memory."""

    attempts: int = 0
    next_attempt_mono: float | None = None
    sending: bool = False
    last_test: str | None = None


class DeliveryLoop:
    """Delivers everything after the destination's cursor, forever (see the module)."""

    def __init__(
        self,
        destination: Destination,
        outbox: Outbox,
        source: EventSource,
        device_id: str,
        report_fault: FaultReporter,
        *,
        backlog_fault_s: float = 300.0,
    ) -> None:
        self.destination = destination
        self.name = destination.name
        self.outbox = outbox
        self.source = source
        self.device_id = device_id
        self.report_fault = report_fault
        self.backlog_fault_s = backlog_fault_s
        self.state = LoopState()
        self._generation = 0  # bumped by replay: a batch in flight must not move the cursor
        self._wake = asyncio.Event()
        self._seq = 0
        self.started = False  # whether the loop has its cursor (it may wait for the log)
        self._faults: dict[str, tuple[bool, str]] = {}

    def key(self, seq: int) -> str:
        return f"{self.device_id}-{seq}"

    async def run(self) -> None:
        cursor = self.outbox.find(self.name)
        if cursor is None:  # new here: at the log's end, like every new destination
            cursor = self.outbox.cursor(self.name, start_at=await self.source.start_point())
        self._seq = cursor.seq
        self.started = True
        delays = backoff_delays()
        while True:
            generation = self._generation
            try:
                batch = await self.source.after(self._seq, BATCH)
            except Exception as exc:  # the log cannot be read now (io restarting it)
                await self._failed(f"reading the event log: {describe(exc)}", next(delays))
                continue
            if not batch:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                beyond = asyncio.ensure_future(self.source.wait_beyond(self._seq, 5.0))
                await asyncio.wait({waiter, beyond}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                beyond.cancel()
                continue
            if batch[0].seq > self._seq + 1 and not await self._check_lost(batch[0].seq):
                continue
            wanted = [Delivery(self.key(e.seq), e) for e in batch if self.destination.wants(e)]
            self._wake.clear()  # a wake-up from now on (a reconnect) cuts the next backoff short
            self.state.sending = True
            try:
                if wanted:
                    await self.destination.deliver(wanted)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # DeliveryError, or a bug: retried all the same
                await self._failed(describe(exc), next(delays))
                continue
            finally:
                self.state.sending = False
            if generation != self._generation:
                continue  # a replay moved the cursor meanwhile: it stands
            last = batch[-1].seq
            self.outbox.advance(
                self.name, last, delivered_seq=wanted[-1].event.seq if wanted else None
            )
            self._seq = last
            self.state.attempts = 0
            self.state.next_attempt_mono = None
            delays = backoff_delays()

    async def _check_lost(self, first_seq: int) -> bool:
        """The next event read is not the cursor's next seq: a range removed by the
        log's retention (lost: recorded) or a gap in the numbering (seq jumps after an
        unclean stop; nothing was there). False if the log could not be read."""
        try:
            oldest = await self.source.oldest_seq()
        except Exception as exc:
            await self._failed(f"reading the event log: {describe(exc)}", MIN_BACKOFF_S)
            return False
        if oldest is not None and oldest > self._seq + 1:
            first, last = self._seq + 1, min(oldest, first_seq) - 1
            self.outbox.lost(self.name, first, last)
            message = (
                f"{self.name}: events {first} to {last} were removed from the log (retention) "
                "before they could be delivered"
            )
            log.error("%s", message)
            self._seq = last
            await self._fault(f"{self.name}-lost", True, message)
        return True

    async def _failed(self, error: str, delay: float) -> None:
        self.outbox.failed(self.name, error)
        self.state.attempts += 1
        self.state.next_attempt_mono = time.monotonic() + delay
        log.warning("%s: %s; retrying in %.1f s", self.name, error, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    # -- actions ----------------------------------------------------------------

    async def replay(self, from_seq: int) -> int:
        """Send everything from ``from_seq`` on again (events the log still has)."""
        if not self.started:
            raise DeliveryError(f"{self.name} is still waiting for the event log: try again soon")
        self._generation += 1
        seq = max(0, from_seq - 1)
        self.outbox.rewind(self.name, seq)
        self._seq = seq
        self._wake.set()
        return seq

    async def send_test(self) -> None:
        try:
            await self.destination.send_test()
        except Exception as exc:
            self.state.last_test = f"failed: {describe(exc)}"
            raise DeliveryError(describe(exc)) from exc
        self.state.last_test = "sent"

    @property
    def faults(self) -> dict[str, tuple[bool, str]]:
        """The faults this loop raised or cleared: code -> (active, message)."""
        return dict(self._faults)

    def retry_now(self) -> None:
        self._wake.set()

    # -- status and faults ---------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        # Never makes the cursor: a loop still looking for the log's end shows 0
        # (a cursor made here at 0 would send the whole log: the start-up race).
        cursor = self.outbox.find(self.name) if self.started else None
        if cursor is None:
            waiting = "starting: waiting to read where the event log ends"
            cursor = Cursor(self.name, 0, None, None, waiting, None, None, None, 0)
        backlog, first = -1, None
        if self.started:
            with contextlib.suppress(Exception):
                backlog, first = await self.source.backlog(cursor.seq)
        connected = getattr(self.destination, "connected", None)
        if connected is None:
            connected = cursor.error is None
        retry_in = None
        if self.state.next_attempt_mono is not None:
            retry_in = round(max(0.0, self.state.next_attempt_mono - time.monotonic()), 1)
        return {
            "name": self.name,
            "connected": bool(connected),
            "cursor": cursor.seq,
            "last_delivered_seq": cursor.delivered_seq,
            "last_delivered_utc_us": cursor.delivered_us,
            "backlog": backlog,
            "oldest_undelivered_seq": first.seq if first else None,
            "oldest_undelivered_utc_us": first.utc_us if first else None,
            "last_error": cursor.error,
            "last_error_utc_us": cursor.error_us,
            "attempts": self.state.attempts,
            "retry_in_s": retry_in,
            "lost": (
                None
                if cursor.lost_from is None
                else {"from": cursor.lost_from, "to": cursor.lost_to, "total": cursor.lost_total}
            ),
            "last_test": self.state.last_test,
            "starting": not self.started,
        }

    async def watch(self, interval_s: float = 5.0) -> None:
        """Raise a fault when the oldest undelivered event is older than the limit,
        clear it (and a lost fault) when the destination has caught up; say the
        state again now and then, so a restarted io process has it too."""
        said = 0.0
        while True:
            await asyncio.sleep(interval_s)
            if not self.started:
                continue
            try:
                backlog, first = await self.source.backlog(self._seq)
            except Exception:
                continue
            age_s = 0.0 if first is None else time.time() - first.utc_us / 1e6
            old = backlog > 0 and age_s > self.backlog_fault_s
            await self._fault(
                f"{self.name}-backlog",
                old,
                f"{self.name}: {backlog} events not delivered, the oldest {age_s:.0f} s old"
                + (f" ({self._last_error()})" if old and self._last_error() else ""),
            )
            if backlog == 0 and self._faults.get(f"{self.name}-lost", (False, ""))[0]:
                await self._fault(f"{self.name}-lost", False, f"{self.name} has caught up")
            if time.monotonic() - said > 60:
                said = time.monotonic()
                for code, (active, message) in list(self._faults.items()):
                    await self._say(code, active, message)

    def _last_error(self) -> str | None:
        cursor = self.outbox.find(self.name)
        return None if cursor is None else cursor.error

    async def _fault(self, code: str, active: bool, message: str) -> None:
        before = self._faults.get(code)
        if before is not None and before[0] == active:
            return
        self._faults[code] = (active, message)
        await self._say(code, active, message)

    async def _say(self, code: str, active: bool, message: str) -> None:
        try:
            await self.report_fault(code, active, message)
        except Exception as exc:  # io away: said again within a minute
            log.warning("cannot tell the io process of fault %s: %s", code, describe(exc))
