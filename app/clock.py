"""Clocks. Everything that reads time takes a :class:`Clock`, so tests inject one.

Monotonic time orders events and measures durations; wall-clock (UTC) time is
only a label, since a Pi has no battery clock and may boot with the wrong time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def utc_us(self) -> int: ...

    def synced(self) -> bool: ...


class SystemClock:
    """The real clocks. ``synced`` is True once systemd-timesyncd has synchronised."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def utc_us(self) -> int:
        return time.time_ns() // 1000

    def synced(self) -> bool:
        return _TIMESYNC_FLAG.exists()


class ManualClock:
    """A clock that moves only when told: for tests and simulations.

    >>> clock = ManualClock(utc_us=1_700_000_000_000_000)
    >>> clock.advance(0.25); clock.monotonic_ns()
    250000000
    """

    def __init__(self, *, utc_us: int = 1_767_225_600_000_000, synced: bool = True) -> None:
        self._lock = threading.Lock()
        self._mono_ns = 0
        self._utc_us = utc_us
        self._synced = synced

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._mono_ns

    def utc_us(self) -> int:
        with self._lock:
            return self._utc_us

    def synced(self) -> bool:
        return self._synced

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        with self._lock:
            self._mono_ns += round(seconds * 1e9)
            self._utc_us += round(seconds * 1e6)

    def step_wall_clock(self, seconds: float) -> None:
        """Step only the wall clock (an NTP correction or a manual change)."""
        with self._lock:
            self._utc_us += round(seconds * 1e6)

    def set_synced(self, synced: bool) -> None:
        self._synced = synced
