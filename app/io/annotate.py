"""The ``annotate`` command: the network process's results, written into the log.

A network action's answer, a snapshot's hash or an alarm skipped as too old
becomes a ``system`` row on the event's channel, with the event's seq as
``detail.event`` (the event page and the API find an event's annotations by it).
The io process writes it like any other event: in order, in the hash chain.

A token bucket (30 a second, bursts of 120) keeps a chattering input or a peer
gone wrong from flooding the log: beyond it, annotations are dropped and counted,
and the count is logged once (``annotations-dropped``) with the next one let in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from app.events import Cause, EventStamper, Kind, NewEvent
from app.io.commands import Annotate, Changed

RATE_PER_S = 30.0
BURST = 120

_DETAIL_FIELDS = (
    "ok",
    "summary",
    "phase",
    "attempts",
    "elapsed_ms",
    "ref",
    "link",
    "sha256",
    "size",
    "width",
    "height",
    "offset_s",
    "taken_utc_us",
)


class Annotations:
    """Turns ``annotate`` commands into log rows, within the rate limit."""

    def __init__(
        self,
        stamper: EventStamper,
        submit: Callable[[NewEvent], Any],
        *,
        rate_per_s: float = RATE_PER_S,
        burst: int = BURST,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stamper = stamper
        self.submit = submit
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._at = monotonic()
        self._dropped = 0
        self._lock = threading.Lock()

    def _take(self) -> tuple[bool, int]:
        """Whether one may be written now, and how many were dropped before it."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
            self._at = now
            if self._tokens < 1:
                self._dropped += 1
                return False, 0
            self._tokens -= 1
            dropped, self._dropped = self._dropped, 0
            return True, dropped

    def handle(self, command: Annotate) -> Changed:
        allowed, dropped = self._take()
        if not allowed:
            return Changed(changed=False)
        if dropped:
            self.submit(
                self.stamper.make(
                    Kind.SYSTEM,
                    "annotations-dropped",
                    Cause.SYSTEM,
                    source="network",
                    detail={
                        "dropped": dropped,
                        "limit": f"{self.rate_per_s:g}/s, bursts of {self.burst}",
                    },
                )
            )
        detail: dict[str, Any] = {"event": command.event}
        for name in _DETAIL_FIELDS:
            value = getattr(command, name)
            if value is not None:
                detail[name] = value
        self.submit(
            self.stamper.make(
                Kind.SYSTEM,
                command.what,
                Cause.SYSTEM,
                channel=command.channel,
                source=command.name,
                detail=detail,
            )
        )
        return Changed(changed=True)
