"""A brute-force reading of the schedule rules, written independently of
``app.schedules.calendar``: walk UTC minute by minute and compare local wall
times naively.

The rules, as a person reads them: a window (start, end) on date D is on while
the local wall clock shows a time in [D start, D end). Wall-clock time is
taken as *the latest local time shown so far*, so that in a repeated hour
(clocks go back) the clock does not run backwards: a window whose start or end
falls in that hour has already started or ended at its first occurrence, and
nothing happens twice. In a skipped hour the wall clock jumps, so a window
starting inside it starts at the first minute shown after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.schedules.calendar import Plan

MINUTE = timedelta(minutes=1)


def _on(plan: Plan, wall: datetime) -> bool:
    for day in (wall.date() - timedelta(days=1), wall.date()):
        midnight = datetime(day.year, day.month, day.day)
        for start, end in plan.spans_on(day):
            if midnight + timedelta(minutes=start) <= wall < midnight + timedelta(minutes=end):
                return True
    return False


def minute_states(plan: Plan, tz: ZoneInfo, first: datetime, count: int) -> list[bool]:
    """On/off for ``count`` UTC minutes from ``first`` (an aware UTC datetime on a
    whole minute)."""
    # start three hours early, so the "latest wall time so far" is right at first
    at = first - timedelta(hours=3)
    wall = at.astimezone(tz).replace(tzinfo=None)
    states = []
    while at < first + count * MINUTE:
        wall = max(wall, at.astimezone(tz).replace(tzinfo=None))
        if at >= first:
            states.append(_on(plan, wall))
        at += MINUTE
    return states


def changes(plan: Plan, tz: ZoneInfo, first: datetime, count: int) -> list[tuple[datetime, bool]]:
    """Every change of state at a minute in ``(first, first + count minutes)``."""
    states = minute_states(plan, tz, first, count)
    return [
        (first + i * MINUTE, states[i]) for i in range(1, len(states)) if states[i] != states[i - 1]
    ]


def on_at(plan: Plan, tz: ZoneInfo, moment: datetime) -> bool:
    minute = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return minute_states(plan, tz, minute, 1)[0]


__all__ = ["changes", "date", "minute_states", "on_at"]
