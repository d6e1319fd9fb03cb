"""The timeline as the Schedules page draws it: segments as percentages of the
span, local hour and day ticks, and the clock changes with their wall times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from app import timeline as tl


@dataclass
class TimelineSegment:
    x: float  # percent of the span
    width: float
    state: str
    title: str


@dataclass
class TimelineRowView:
    section: str
    number: int
    name: str
    schedule: str | None
    segments: list[TimelineSegment]


@dataclass
class Tick:
    x: float
    label: str
    kind: str  # "day" (local midnight), "hour" (labelled), "minor"


@dataclass
class ClockChange:
    x: float
    label: str
    when: str


@dataclass
class TimelineView:
    span: str
    from_now: bool
    start: str
    end: str
    rows: list[TimelineRowView]
    ticks: list[Tick]
    clock_changes: list[ClockChange]
    legend: list[tuple[str, str]]


QUARTER_US = 15 * 60 * 1_000_000


def _moment(utc_us: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(utc_us / 1e6, UTC).astimezone(tz)


def _when(utc_us: int, tz: tzinfo, zone: bool) -> str:
    """``Sat 21 Nov 18:30``, with the zone's abbreviation when the span has a
    clock change (a repeated hour's times are otherwise ambiguous)."""
    moment = _moment(utc_us, tz)
    return moment.strftime("%a %d %b %H:%M") + (moment.strftime(" %Z") if zone else "")


def _clock_change(change: tl.OffsetChange, tz: tzinfo) -> str:
    """``Sun 25 Oct 03:00 CEST becomes 02:00 CET``: the wall clock before and after."""
    before = _moment(change.at_us - 1, tz)
    after = _moment(change.at_us, tz)
    old = after.astimezone(timezone(timedelta(seconds=change.old_offset_s)))
    return (
        f"{old:%a %d %b %H:%M} {before:%Z} becomes {after:%H:%M} {after:%Z}"
        if before.tzname() != after.tzname()
        else f"{old:%a %d %b %H:%M} becomes {after:%H:%M}"
    )


def timeline_view(timeline: tl.Timeline, tz: tzinfo, span: str, from_now: bool) -> TimelineView:
    """The timeline as percentages of its span, with local hour and day ticks."""
    start, end = timeline.start_us, timeline.end_us
    length = max(end - start, 1)

    def pos(utc_us: int) -> float:
        return round((min(max(utc_us, start), end) - start) / length * 100, 3)

    zone = bool(timeline.offset_changes)
    rows = []
    for row in timeline.rows:
        segments = [
            TimelineSegment(
                pos(seg.start_us),
                round(pos(seg.end_us) - pos(seg.start_us), 3),
                seg.state,
                f"{row.name}: {seg.state} from {_when(seg.start_us, tz, zone)} "
                f"to {_when(seg.end_us, tz, zone)}",
            )
            for seg in row.segments
        ]
        rows.append(TimelineRowView(row.section, row.number, row.name, row.schedule, segments))
    ticks = []
    moment = -(-start // QUARTER_US) * QUARTER_US  # local full hours fall on UTC quarters
    while moment < end:
        local = _moment(moment, tz)
        if local.minute == 0 and moment > start:
            if local.hour == 0:
                ticks.append(Tick(pos(moment), local.strftime("%a %d"), "day"))
            elif span == "24h" and local.hour % 3 == 0:
                ticks.append(Tick(pos(moment), local.strftime("%H:%M"), "hour"))
            elif span == "24h" or local.hour == 12:
                ticks.append(Tick(pos(moment), "", "minor"))
        moment += QUARTER_US
    changes = [
        ClockChange(pos(c.at_us), c.label, _clock_change(c, tz)) for c in timeline.offset_changes
    ]
    used = {seg.state for row in rows for seg in row.segments}
    return TimelineView(
        span=span,
        from_now=from_now,
        start=_when(start, tz, zone),
        end=_when(end, tz, zone),
        rows=rows,
        ticks=ticks,
        clock_changes=changes,
        legend=[(state, text) for state, text in tl.STATES.items() if state in used],
    )
