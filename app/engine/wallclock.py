"""Noticing steps of the wall clock (NTP sync after boot, a manual change)."""

from __future__ import annotations

S = 1_000_000_000
STEP_NS = 2 * S  # a wall-clock jump larger than this, against monotonic time, is a step


class WallClockWatch:
    """Compares the wall clock with the monotonic clock at each call; NTP's slewing
    (at most 0.5 ms/s) never adds up to a step between two calls.

    >>> watch = WallClockWatch()
    >>> watch.check(0, 1_000_000), watch.check(S, 2_000_000)
    (None, None)
    >>> watch.check(2 * S, 3_000_000 + 3_600_000_000)  # an hour ahead: the clock read 3 s
    3000000
    """

    def __init__(self) -> None:
        self._offset: int | None = None  # utc - monotonic at the last call, in ns

    def check(self, now_ns: int, utc_us: int) -> int | None:
        """None, or the wall time (UTC us) the clock would read now without the step."""
        offset = utc_us * 1000 - now_ns
        last, self._offset = self._offset, offset
        if last is None or abs(offset - last) <= STEP_NS:
            return None
        return (last + now_ns) // 1000
