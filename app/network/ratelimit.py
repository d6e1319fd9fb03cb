"""At most N notifications in any window (60 s): the storm limit of mail and Apprise."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class RateWindow:
    """A sliding window of when each notification went.

    >>> clock = iter([0.0, 0.0, 1.0, 61.0]).__next__
    >>> window = RateWindow(1, 60.0, clock)
    >>> window.room(), window.note(), window.room(), window.room()
    (1, None, 0, 1)
    """

    def __init__(
        self,
        per_window: int,
        window_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self._monotonic = monotonic
        self._sent: deque[float] = deque()

    def note(self) -> None:
        """One went now."""
        self._sent.append(self._monotonic())

    def room(self) -> int:
        """How many may go now."""
        now = self._monotonic()
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()
        return self.per_window - len(self._sent)

    async def wait_for_room(self, what: str) -> int:
        """Wait until at least one may go; how many may go then."""
        while (room := self.room()) <= 0:
            wait = self._sent[0] + self.window_s - self._monotonic()
            log.info(
                "%s: %d sent in the last %g s; waiting %.1f s",
                what,
                len(self._sent),
                self.window_s,
                wait,
            )
            await asyncio.sleep(max(wait, 0.01))
        return room
