"""Weekly schedules as validated configuration.

Times are "HH:MM" local wall-clock times (the appliance's time zone). A window
whose end is not after its start runs past midnight into the next day
("22:00"-"06:00"); "24:00" is the end of the day. Overlapping windows are
refused with a message that names them, never merged silently.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from app.schedules.calendar import DAY_MIN, Plan, Span
from app.text import Name, Text

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
MAX_WINDOWS = 16  # per day
MAX_EXCEPTIONS = 366
ALWAYS = "always"
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_NAME = re.compile(r"^[\w][\w .'()-]*$")


def minutes(text: str) -> int:
    """ "HH:MM" as minutes after midnight.

    >>> minutes("07:30"), minutes("24:00")
    (450, 1440)
    """
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def hhmm(total: int) -> str:
    """Minutes after midnight as "HH:MM" (1440 is "24:00").

    >>> hhmm(450), hhmm(1440), hhmm(1500)
    ('07:30', '24:00', '01:00')
    """
    if total != DAY_MIN:
        total %= DAY_MIN
    return f"{total // 60:02d}:{total % 60:02d}"


def _check_time(text: str) -> str:
    if not _TIME.match(text):
        raise ValueError(f"{text!r} is not a time: use HH:MM, from 00:00 to 24:00")
    return text


Time = Annotated[str, AfterValidator(_check_time)]


def _iso_date(value: object) -> object:
    """Only a date or its ISO text ("2026-12-25"): not a number of seconds since 1970."""
    if not isinstance(value, str | dt.date):
        raise ValueError("a date is text in the form YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Window(_Model):
    """From ``start`` to ``end``; an end at or before the start is the next day."""

    start: Time = Field(examples=["22:00"])
    end: Time = Field(examples=["06:00"])

    @model_validator(mode="after")
    def _length(self) -> Self:
        if self.start == "24:00":
            raise ValueError("a window cannot start at 24:00: use 00:00 of the next day")
        if minutes(self.start) == minutes(self.end):
            raise ValueError(
                f"the window {self.start}-{self.end} has no length: for all day use 00:00-24:00"
            )
        return self

    @property
    def span(self) -> Span:
        """Minutes from the start day's midnight; the end may pass 1440."""
        start, end = minutes(self.start), minutes(self.end)
        return start, end if end > start else end + DAY_MIN

    @property
    def label(self) -> str:
        return f"{self.start}-{self.end}" + (" (next day)" if self.span[1] > DAY_MIN else "")


def _windows() -> Any:
    return Field(default_factory=list, max_length=MAX_WINDOWS)


class Week(_Model):
    mon: list[Window] = _windows()
    tue: list[Window] = _windows()
    wed: list[Window] = _windows()
    thu: list[Window] = _windows()
    fri: list[Window] = _windows()
    sat: list[Window] = _windows()
    sun: list[Window] = _windows()

    def day(self, index: int) -> list[Window]:
        """Windows of weekday ``index`` (0 = Monday)."""
        windows: list[Window] = getattr(self, WEEKDAYS[index])
        return windows


class DateException(_Model):
    """A date (a holiday) whose windows replace the usual ones; none = off all day."""

    # checks look at the day before and after: keep clear of the calendar's ends
    date: IsoDate = Field(ge=dt.date(2, 1, 1), le=dt.date(9998, 12, 31))
    windows: list[Window] = _windows()
    note: Text = Field(default="", max_length=60)


def _check_name(name: str) -> str:
    if name.strip().lower() == ALWAYS:
        raise ValueError("'always' is built in: choose another name")
    if not _NAME.match(name) or name != name.strip():
        raise ValueError(
            "use letters, digits, spaces and - _ . ' ( ), starting with a letter or digit"
        )
    return name


class Schedule(_Model):
    """A named weekly schedule, with date exceptions."""

    name: Annotated[Name, AfterValidator(_check_name)]
    week: Week = Field(default_factory=Week)
    exceptions: list[DateException] = Field(default_factory=list, max_length=MAX_EXCEPTIONS)

    @model_validator(mode="after")
    def _no_overlaps(self) -> Self:
        problems = overlaps(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def plan(self) -> Plan:
        return Plan(
            week=tuple(tuple(w.span for w in self.week.day(i)) for i in range(7)),
            exceptions={e.date: tuple(w.span for w in e.windows) for e in self.exceptions},
        )


def _day_overlaps(label: str, windows: list[Window]) -> list[str]:
    problems = []
    ordered = sorted(windows, key=lambda w: w.span)
    for i, b in enumerate(ordered[1:], 1):
        a = max(ordered[:i], key=lambda w: w.span[1])  # the earlier window reaching furthest
        if b.span[0] < a.span[1]:
            joined = (a.span[0], max(a.span[1], b.span[1]))
            problems.append(
                f"{label}: {a.label} overlaps {b.label}: merge them into "
                f"{hhmm(joined[0])}-{hhmm(joined[1])} or change one"
            )
    return problems


def _spill_overlaps(
    label: str, windows: list[Window], next_label: str, next_windows: list[Window]
) -> list[str]:
    problems = []
    for w in windows:
        spill = w.span[1] - DAY_MIN
        for n in next_windows:
            if spill > 0 and n.span[0] < spill:
                problems.append(
                    f"{label} {w.label} runs into {next_label} and overlaps its {n.label}"
                )
    return problems


def overlaps(schedule: Schedule) -> list[str]:
    """Every pair of windows that overlap, including a window running past
    midnight into the next day's (and around the week, Sunday into Monday)."""
    week = schedule.week
    problems = []
    for i in range(7):
        problems += _day_overlaps(DAY_NAMES[WEEKDAYS[i]], week.day(i))
        problems += _spill_overlaps(
            DAY_NAMES[WEEKDAYS[i]],
            week.day(i),
            DAY_NAMES[WEEKDAYS[(i + 1) % 7]],
            week.day((i + 1) % 7),
        )
    special = {e.date: e.windows for e in schedule.exceptions}
    seen: set[dt.date] = set()
    for e in schedule.exceptions:
        if e.date in seen:
            problems.append(f"{e.date} has two exceptions: keep one")
            continue
        seen.add(e.date)
        before, after = e.date - dt.timedelta(days=1), e.date + dt.timedelta(days=1)
        problems += _day_overlaps(str(e.date), e.windows)
        problems += _spill_overlaps(
            str(before), special.get(before, week.day(before.weekday())), str(e.date), e.windows
        )
        if after not in special:  # when it is, its own check covers this pair
            problems += _spill_overlaps(
                str(e.date), e.windows, str(after), week.day(after.weekday())
            )
    return problems
