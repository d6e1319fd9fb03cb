"""Clocks. Everything that reads time takes a :class:`Clock`, so tests inject one.

Monotonic time orders events and measures durations; wall-clock (UTC) time is
only a label, since a Pi has no battery clock and may boot with the wrong time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
import time
from pathlib import Path
from typing import Protocol

_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
_TIME_ERROR = 5  # adjtimex: the clock is not synchronised


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def utc_us(self) -> int: ...

    def synced(self) -> bool: ...


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


def _kernel_synced() -> bool:
    """The kernel's own view (``adjtimex``, read only): True unless it reports
    TIME_ERROR, i.e. no NTP client (chrony, ntpd, timesyncd) has synchronised it."""
    libc = _libc()
    try:
        state = libc.adjtimex(ctypes.create_string_buffer(512))  # type: ignore[union-attr]
    except AttributeError:  # no libc, or no adjtimex (not Linux)
        return False
    return bool(0 <= state < _TIME_ERROR)


class SystemClock:
    """The real clocks. ``synced`` is True once systemd-timesyncd (or any NTP client
    the kernel knows of) has synchronised the wall clock."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def utc_us(self) -> int:
        return time.time_ns() // 1000

    def synced(self) -> bool:
        return _TIMESYNC_FLAG.exists() or _kernel_synced()


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
