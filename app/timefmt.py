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

from datetime import UTC, datetime, tzinfo


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
