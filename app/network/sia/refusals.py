"""The receiver's refusals in the event log, summed up: a ``sia-refused`` row
(io command ``sia-refused``, a ``security`` event) per sender address and reason,
the first at once, then at most one per period (60 s) with the count of that
period. A flood of bad frames writes a bounded number of rows: one per address
and reason per minute, for at most :data:`MAX_KEYS` addresses (the rest are summed
under the address ``other``). The journal (``alarmbridge.sia``) gets the same first
ones as warnings, and every frame at debug level.

If the io process cannot take a row, its count is kept and sent with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.io.commands import SiaRefused
from app.text import printable

log = logging.getLogger("alarmbridge.sia")

Send = Callable[[SiaRefused], Awaitable[None]]
PERIOD_S = 60.0
MAX_KEYS = 64
OTHER = "other"
_HEX = re.compile(r"[0-9A-F]{0,16}")


@dataclass
class _Count:
    opened: float  # monotonic: when its period began
    refused: int = 0  # not yet logged
    first_us: int = 0
    last_us: int = 0
    account: str = ""
    message: str = ""
    answer: str = "NAK"


class RefusalReport:
    """Counts refusals per (address, reason); :meth:`flush` sends what is due."""

    def __init__(
        self,
        send: Send,
        *,
        period_s: float = PERIOD_S,
        monotonic: Callable[[], float] = time.monotonic,
        utc_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.send = send
        self.period_s = period_s
        self.monotonic = monotonic
        self.utc_us = utc_us
        self._counts: dict[tuple[str, str], _Count] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def refused(
        self,
        address: str,
        reason: str,
        *,
        account: str = "",
        message: str = "",
        answer: str = "NAK",
    ) -> bool:
        """One frame refused: the first of a key is due at once, the rest at the end
        of its period. True for a first (the receiver puts it in the journal; the
        rest only at debug level, so a flood does not flood the journal either)."""
        address = printable(address)[:64] or "unknown"
        key = (address, reason)
        count = self._counts.get(key)
        first = False
        if count is None:
            if len({a for a, _ in self._counts} | {address}) > MAX_KEYS:
                key = (OTHER, reason)
                count = self._counts.get(key)
            if count is None:  # due at once: its period "began" one period ago
                count = self._counts[key] = _Count(self.monotonic() - self.period_s)
                self._wake.set()
                first = True
        now_us = self.utc_us()
        if not count.refused:
            count.first_us = now_us
        count.refused += 1
        count.last_us = now_us
        account = account.upper()
        count.account = account if _HEX.fullmatch(account) else ""
        count.message = printable(message)[:300]
        count.answer = answer
        return first

    @property
    def pending(self) -> int:
        """Refusals counted and not yet sent."""
        return sum(c.refused for c in self._counts.values())

    async def flush(self, *, everything: bool = False) -> None:
        """Send each key's count whose period has ended (``everything``: all)."""
        now = self.monotonic()
        for key, count in list(self._counts.items()):
            if not everything and now - count.opened < self.period_s:
                continue
            if not count.refused:  # a quiet period: forget the key
                del self._counts[key]
                continue
            row = SiaRefused(
                address=key[0],
                reason=key[1],
                answer="DUH" if count.answer == "DUH" else "NAK",
                refused=count.refused,
                first_utc_us=count.first_us,
                last_utc_us=count.last_us,
                account=count.account,
                message=count.message,
            )
            opened, count.opened, count.refused = count.opened, now, 0  # counts on meanwhile
            try:
                await self.send(row)
            except Exception as exc:  # kept: sent with the next row of this key
                log.warning("SIA refusals from %s not logged yet: %s", key[0], exc)
                count.opened, count.refused = opened, count.refused + row.refused
                count.first_us = row.first_utc_us

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sia-refusals")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush(everything=True)
