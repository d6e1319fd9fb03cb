"""Security rows the io process writes for the other processes: a command refused
to a user that may not send it (app/io/peer.py), and the frames the SIA DC-09
receiver refused (``sia-refused``, summed up by the network process).

A refused command is logged at most once per user, command and minute
(:class:`Refusals`): the next row counts the refusals in between, so a local
process that loops on a forbidden command cannot fill the log.
"""

from __future__ import annotations

import pwd
import threading
import time
from collections.abc import Callable
from typing import Any

from app.events import Cause, EventStamper, Kind, NewEvent
from app.io.commands import SiaRefused
from app.timefmt import utc_iso

REFUSAL_PERIOD_S = 60.0


def user_name(uid: int | None) -> str:
    """``name`` for a known uid, ``uid:N`` otherwise, ``unknown`` without one."""
    if uid is None:
        return "unknown"
    try:
        return pwd.getpwuid(uid).pw_name[:40]
    except KeyError:
        return f"uid:{uid}"


def command_refused_event(
    stamper: EventStamper, cmd: str, uid: int | None, refused: int, why: str
) -> NewEvent:
    detail: dict[str, Any] = {"command": cmd[:40], "uid": uid, "refused": refused, "why": why}
    return stamper.make(
        Kind.SECURITY, "command-refused", Cause.SYSTEM, source=user_name(uid), detail=detail
    )


def sia_refused_event(stamper: EventStamper, command: SiaRefused) -> NewEvent:
    detail: dict[str, Any] = {
        "address": command.address,
        "reason": command.reason,
        "answer": command.answer,
        "refused": command.refused,
        "first": utc_iso(command.first_utc_us),
        "last": utc_iso(command.last_utc_us),
        "account": command.account or None,
        "message": command.message,
    }
    return stamper.make(
        Kind.SECURITY,
        "sia-refused",
        Cause.SYSTEM,
        source=f"sia:{command.address}",
        detail=detail,
    )


class Refusals:
    """Calls ``write(cmd, uid, refused, why)`` for the first refusal of a user and
    command, then at most once per ``period_s``, with the number refused since
    the last row (this one included)."""

    def __init__(
        self,
        write: Callable[[str, int | None, int, str], None],
        period_s: float = REFUSAL_PERIOD_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.period_s = period_s
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int | None], tuple[float, int]] = {}  # -> (row at, unlogged)

    def refused(self, cmd: str, uid: int | None, why: str) -> None:
        now = self.monotonic()
        key = (cmd, uid)
        with self._lock:
            at, unlogged = self._last.get(key, (now - self.period_s, 0))
            if now - at < self.period_s:
                self._last[key] = (at, unlogged + 1)
                return
            if len(self._last) > 1000:  # forget the quiet ones
                self._last = {k: v for k, v in self._last.items() if now - v[0] < self.period_s}
            self._last[key] = (now, 0)
        self.write(cmd, uid, unlogged + 1, why)
