"""Access events for the audit log: ``security`` events the io process writes.

Refused logins are not written one by one: an anonymous client could otherwise
make the appliance write (and sync) a row per request. :class:`ThrottleReport`
counts them and writes one ``login-throttled`` event per blocked account or
address and block period, with the count, once the period is over (or when the
web process stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.io.commands import Command, SecurityEvent, SecurityState
from app.io.protocol import ControlError
from app.text import printable
from app.timefmt import utc_iso

log = logging.getLogger(__name__)

Ask = Callable[[Command[Any]], Awaitable[Any]]
MAX_TRACKED = 10_000  # blocked keys counted at once; beyond, refusals are not counted


async def audit(ask: Ask, what: SecurityState, user: str, address: str, **detail: str) -> None:
    """A `security` event in the log; if the io process is down (or the event is
    not one it takes), the web process's own log keeps it."""
    detail["address"] = address
    try:
        await ask(SecurityEvent(state=what, user=user, detail=detail))
    except (ControlError, ValidationError) as exc:
        log.warning(
            "security event %s by %s (%s) not logged: %s",
            what,
            printable(user),
            printable(detail),
            exc,
        )


@dataclass
class _Count:
    until_us: int
    refused: int
    address: str


class ThrottleReport:
    """Counts refused attempts per blocked key and block period; :meth:`flush`
    writes one event for each period that has ended."""

    def __init__(self, ask: Ask, now: Callable[[], int], every_s: float = 1.0) -> None:
        self.ask = ask
        self.now = now
        self.every_s = every_s
        self._counts: dict[str, _Count] = {}
        self._ended: list[tuple[str, _Count]] = []  # replaced before a flush saw them
        self._task: asyncio.Task[None] | None = None

    def refused(self, blocked: dict[str, int], address: str) -> None:
        """An attempt refused by ``blocked`` (key -> end of its block)."""
        for key, until in blocked.items():
            count = self._counts.get(key)
            if count is None or count.until_us != until:
                if count is not None:  # a new period began before a flush saw the old
                    self._ended.append((key, count))
                if len(self._counts) >= MAX_TRACKED:
                    continue
                count = self._counts[key] = _Count(until, 0, address)
            count.refused += 1
            count.address = address

    async def flush(self, *, everything: bool = False) -> None:
        """Write the events of every block period that has ended (``everything``:
        of every period, ended or not)."""
        now = self.now()
        due = [(k, c) for k, c in self._counts.items() if everything or c.until_us <= now]
        for key, _ in due:
            del self._counts[key]
        due, self._ended = self._ended + due, []
        for key, count in due:
            kind, _, value = key.partition(":")
            detail = {"refused": str(count.refused), "blocked_until": utc_iso(count.until_us)}
            if kind == "user":
                await audit(
                    self.ask, "login-throttled", value, count.address, account=value, **detail
                )
            else:
                await audit(self.ask, "login-throttled", "anonymous", value, **detail)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="throttle-report")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush(everything=True)
