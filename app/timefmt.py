"""Times for people: the log stores UTC microseconds; pages show the appliance's
local time zone, with UTC beside it.

>>> from zoneinfo import ZoneInfo
>>> brussels = ZoneInfo("Europe/Brussels")
>>> local_iso(1_763_712_000_000_000, brussels)
'2025-11-21T09:00:00.000+01:00'
>>> parse_moment("2025-11-21T09:00", brussels) == 1_763_712_000_000_000
True
"""

from __future__ import annotations

from datetime import UTC, datetime, timezone, tzinfo
from functools import lru_cache

DAY_US = 86_400 * 1_000_000
_DAYS_KEPT = 4096  # about eleven years of days: a page of events falls in a few


class TimeFormatError(ValueError):
    """A time a person typed that cannot be read."""


def _moment(utc_us: int) -> datetime:
    return datetime.fromtimestamp(utc_us / 1e6, UTC)


def utc_iso(utc_us: int) -> str:
    """``2025-11-21T08:00:00.000Z``"""
    return _moment(utc_us).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_iso(utc_us: int, tz: tzinfo) -> str:
    """ISO 8601 in ``tz`` with its offset, to the millisecond."""
    return _moment(utc_us).astimezone(tz).isoformat(timespec="milliseconds")


class LocalTimes:
    """:func:`local_iso` for many moments in one zone, without a time-zone lookup
    for each.

    The zone's UTC offset is looked up once per UTC day and kept as a fixed
    offset when it is the same at the day's first and last microsecond: the
    offset is then valid for the whole day. A day in which the offset changes (a
    daylight-saving change) keeps no fixed offset: each moment in it is converted
    through the zone, exactly. (This assumes a zone never changes its offset and
    changes it back within one UTC day; the tz database has no such day.)

    >>> from zoneinfo import ZoneInfo
    >>> times = LocalTimes(ZoneInfo("Europe/Brussels"))
    >>> times.iso(1_763_712_000_000_000)
    '2025-11-21T09:00:00.000+01:00'
    >>> times.iso(1_774_745_999_999_000), times.iso(1_774_746_000_000_000)  # spring forward
    ('2026-03-29T01:59:59.999+01:00', '2026-03-29T03:00:00.000+02:00')
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._days: dict[int, tzinfo | None] = {}

    def _fixed(self, day: int) -> tzinfo | None:
        start = day * DAY_US
        first = _moment(start).astimezone(self.tz).utcoffset()
        last = _moment(start + DAY_US - 1).astimezone(self.tz).utcoffset()
        return timezone(first) if first is not None and first == last else None

    def iso(self, utc_us: int) -> str:
        """ISO 8601 in the zone with its offset, to the millisecond (as :func:`local_iso`)."""
        day = utc_us // DAY_US
        try:
            fixed = self._days[day]
        except KeyError:
            if len(self._days) >= _DAYS_KEPT:
                self._days.clear()
            fixed = self._days[day] = self._fixed(day)
        if fixed is None:  # the offset changes this day
            return local_iso(utc_us, self.tz)
        return datetime.fromtimestamp(utc_us / 1e6, fixed).isoformat(timespec="milliseconds")


@lru_cache(maxsize=8)
def local_times(tz: tzinfo) -> LocalTimes:
    """The shared :class:`LocalTimes` of ``tz`` (its cache outlives a request)."""
    return LocalTimes(tz)


def local_text(utc_us: int, tz: tzinfo) -> str:
    """``2025-11-21 09:00:00`` in ``tz``: what a table shows."""
    return _moment(utc_us).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def parse_moment(text: str, tz: tzinfo) -> int:
    """UTC microseconds for an ISO 8601 time; one without an offset is in ``tz``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeFormatError(
            f"cannot read the time {text!r}: use ISO 8601, e.g. 2026-11-21T08:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return round(moment.timestamp() * 1e6)
