"""Evaluating weekly schedules in a time zone: pure functions, no clock.

A schedule is a set of *windows*: a local start and end time on a date. A
window belongs to the date it starts on and may run past midnight into the
next date. Each window occurrence becomes one UTC interval, so a window can
never start twice.

Daylight saving (the rules documented in ``docs/schedules.md``):

- a local time in a *skipped* hour (clocks go forward) means the first valid
  minute after it: a window starting at 02:30 on that day starts at 03:00;
- a local time in a *repeated* hour (clocks go back) means its first
  occurrence, so a window starting at 02:30 starts once, in summer time, and a
  window ending at 02:30 ends at the first 02:30.

Times are microseconds since the Unix epoch (UTC), as everywhere in the
engine; minutes are counted from local midnight.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
DAY_MIN = 24 * 60

Span = tuple[
    int, int
]  # minutes from local midnight: start in [0, 1440), end in (start, start+1440]
Interval = tuple[int, int]  # UTC microseconds: [start, end)


@dataclass(frozen=True)
class Plan:
    """A schedule reduced to what evaluation needs.

    ``week``: seven tuples of spans, Monday first. ``exceptions``: dates whose
    own windows are replaced (an empty tuple: off all day). A window spilling
    past midnight from the day before still runs on an exception date.
    """

    week: tuple[tuple[Span, ...], ...]
    exceptions: Mapping[date, tuple[Span, ...]] = field(default_factory=dict)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        return self.week[day.weekday()]


def to_us(moment: datetime) -> int:
    """An aware datetime as UTC microseconds."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(utc_us: int, tz: tzinfo = UTC) -> datetime:
    """UTC microseconds as an aware datetime in ``tz``."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=utc_us)).astimezone(tz)


def resolve(naive: datetime, tz: tzinfo) -> int:
    """When local wall time ``naive`` happens in ``tz``, in UTC microseconds.

    A repeated time gives its first occurrence; a skipped time gives the first
    valid minute after it.

    >>> from zoneinfo import ZoneInfo
    >>> brussels = ZoneInfo("Europe/Brussels")
    >>> from_us(resolve(datetime(2026, 3, 29, 2, 30), brussels), brussels).strftime("%H:%M %Z")
    '03:00 CEST'
    >>> from_us(resolve(datetime(2026, 10, 25, 2, 30), brussels), brussels).strftime("%H:%M %Z")
    '02:30 CEST'
    """
    candidate = naive
    for _ in range(3 * DAY_MIN):  # the longest skip on record is one day (Samoa, 2011)
        moment = candidate.replace(tzinfo=tz, fold=0)
        utc = moment.astimezone(UTC)
        if utc.astimezone(tz).replace(tzinfo=None) == candidate:
            return to_us(utc)
        candidate = (candidate + timedelta(minutes=1)).replace(second=0, microsecond=0)
    raise ValueError(f"{naive} never happens in {tz}")  # pragma: no cover


def local_date(utc_us: int, tz: tzinfo) -> date:
    return from_us(utc_us, tz).date()


def occurrences(plan: Plan, tz: tzinfo, first: date, last: date) -> Iterator[Interval]:
    """The UTC interval of every window starting on a date in ``first..last``."""
    day = first
    while day <= last:
        midnight = datetime(day.year, day.month, day.day)
        for start, end in plan.spans_on(day):
            a = resolve(midnight + timedelta(minutes=start), tz)
            b = resolve(midnight + timedelta(minutes=end), tz)
            if a < b:  # a window wholly inside a skipped hour does not happen
                yield a, b
        day += timedelta(days=1)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping and touching intervals joined.

    >>> merge([(5, 9), (0, 2), (2, 4), (8, 12)])
    [(0, 4), (5, 12)]
    """
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def intervals(plan: Plan, tz: tzinfo, start_us: int, end_us: int) -> list[Interval]:
    """The merged intervals in which ``plan`` is on that overlap ``[start_us, end_us)``.

    Windows are looked at from two days before ``start_us`` to a day after
    ``end_us``; a schedule that is on without a break across those edges (on
    all day, every day) shows an interval starting or ending there, outside the
    range asked about, so callers clip to it."""
    first = local_date(start_us, tz) - timedelta(days=2)
    last = local_date(end_us, tz) + timedelta(days=1)
    found = merge(occurrences(plan, tz, first, last))
    return [(a, b) for a, b in found if b > start_us and a < end_us]


@dataclass
class Evaluator:
    """Answers questions about one plan quickly, caching its intervals by range.

    ``active_at(t)`` is a binary search; the cache covers two weeks and moves
    when asked about a time near its edges.
    """

    plan: Plan
    tz: tzinfo
    _lo: int = 0
    _hi: int = -1
    _starts: list[int] = field(default_factory=list)
    _spans: list[Interval] = field(default_factory=list)

    def _cover(self, utc_us: int) -> None:
        if self._lo + DAY_US <= utc_us <= self._hi - 8 * DAY_US:
            return
        self._lo, self._hi = utc_us - 2 * DAY_US, utc_us + 12 * DAY_US
        self._spans = intervals(self.plan, self.tz, self._lo, self._hi)
        self._starts = [a for a, _ in self._spans]

    def active_at(self, utc_us: int) -> bool:
        self._cover(utc_us)
        i = bisect.bisect_right(self._starts, utc_us) - 1
        return i >= 0 and utc_us < self._spans[i][1]

    def next_change(self, utc_us: int, horizon_us: int = 8 * DAY_US) -> int | None:
        """The first instant after ``utc_us`` at which the state changes, or None
        if it does not change within ``horizon_us``."""
        self._cover(utc_us)
        limit = utc_us + horizon_us
        for a, b in self._spans[max(0, bisect.bisect_right(self._starts, utc_us) - 1) :]:
            for edge in (a, b):
                if edge > utc_us:
                    return edge if edge <= limit and edge < self._hi - DAY_US else None
        return None


def transitions(plan: Plan, tz: tzinfo, start_us: int, end_us: int) -> list[tuple[int, bool]]:
    """Every change in ``(start_us, end_us]``: (instant, on after it)."""
    changes = []
    for a, b in intervals(plan, tz, start_us, end_us + 1):
        if start_us < a <= end_us:
            changes.append((a, True))
        if start_us < b <= end_us:
            changes.append((b, False))
    return changes


def segments(plan: Plan, tz: tzinfo, start_us: int, end_us: int) -> list[tuple[int, int, bool]]:
    """``[start_us, end_us)`` cut into (from, to, on) pieces."""
    pieces: list[tuple[int, int, bool]] = []
    at = start_us
    for a, b in intervals(plan, tz, start_us, end_us):
        a, b = max(a, start_us), min(b, end_us)
        if a > at:
            pieces.append((at, a, False))
        pieces.append((a, b, True))
        at = b
    if at < end_us:
        pieces.append((at, end_us, False))
    return pieces


def offset_changes(tz: tzinfo, start_us: int, end_us: int) -> list[tuple[int, int, int]]:
    """Every UTC-offset change of ``tz`` in ``(start_us, end_us]``, to the second:
    (instant, old offset, new offset), offsets in seconds.

    >>> from zoneinfo import ZoneInfo
    >>> day = to_us(datetime(2026, 3, 29, tzinfo=UTC))
    >>> [(from_us(t).strftime("%H:%M"), a, b)
    ...  for t, a, b in offset_changes(ZoneInfo("Europe/Brussels"), day, day + DAY_US)]
    [('01:00', 3600, 7200)]
    """

    def offset(seconds: int) -> int:
        delta = from_us(seconds * US, tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    changes = []
    t, end = start_us // US, -(-end_us // US)
    before = offset(t)
    while t < end:
        nxt = min(t + 3600, end)
        after = offset(nxt)
        if after != before:
            lo, hi = t, nxt  # offset(lo) == before != offset(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == before:
                    lo = mid
                else:
                    hi = mid
            if start_us < hi * US <= end_us:
                changes.append((hi * US, before, after))
            before = after
        t = nxt
    return changes
