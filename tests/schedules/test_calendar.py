"""Schedule evaluation against a brute-force minute-by-minute oracle, in three
time zones, with explicit daylight-saving cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.schedules.calendar import (
    DAY_MIN,
    MINUTE_US,
    Evaluator,
    Plan,
    Span,
    from_us,
    intervals,
    offset_changes,
    resolve,
    segments,
    to_us,
    transitions,
)
from tests.schedules import oracle

ZONES = ["Europe/Brussels", "America/New_York", "UTC"]
# each zone's daylight-saving days, so that random cases hit them often
DST_DAYS = {
    "Europe/Brussels": [date(2026, 3, 29), date(2026, 10, 25), date(2031, 3, 30)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1), date(2030, 11, 3)],
    "UTC": [date(2026, 3, 29)],
}


@st.composite
def spans(draw: st.DrawFn, small_hours: bool = False) -> tuple[Span, ...]:
    """Any windows of one day, overlapping or not, some past midnight; with
    ``small_hours``, they start near the times clocks change (01:00-04:00)."""
    minute = st.one_of(
        st.integers(0, DAY_MIN - 1), st.integers(60, 240), st.sampled_from([0, 120, 150, 180])
    )
    if small_hours:
        minute = st.integers(60, 240)
    out = []
    for _ in range(draw(st.integers(1 if small_hours else 0, 4))):
        start = draw(minute)
        length = draw(st.one_of(st.integers(1, DAY_MIN), st.integers(1, 90)))
        out.append((start, start + length))
    return tuple(out)


@st.composite
def plans(draw: st.DrawFn, around: date, small_hours: bool = False) -> Plan:
    """Random weekly windows and exceptions near ``around``; with ``small_hours``
    the windows of ``around`` and the day before start in the small hours."""
    focus = {around.weekday(), (around.weekday() - 1) % 7} if small_hours else set()
    week = tuple(draw(spans(small_hours=i in focus)) for i in range(7))
    exception_days = draw(
        st.lists(st.integers(-3, 3), max_size=3, unique=True).map(
            lambda offsets: [around + timedelta(days=d) for d in offsets]
        )
    )
    return Plan(week=week, exceptions={d: draw(spans()) for d in exception_days})


@st.composite
def cases(draw: st.DrawFn) -> tuple[Plan, ZoneInfo, datetime]:
    """A plan, a zone and an instant: half of them in the small hours of a day
    the clocks change, the rest anywhere from 2020 to 2035."""
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    dst = draw(st.booleans())
    if dst:
        day = draw(st.sampled_from(DST_DAYS[name]))
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        moment = start + timedelta(minutes=draw(st.integers(-60, 5 * 60)))
    else:
        day = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = start + timedelta(minutes=draw(st.integers(0, DAY_MIN)))
    return draw(plans(day, small_hours=dst)), zone, moment.astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(cases(), st.integers(0, 59_999_999))
def test_active_at_matches_brute_force(case: tuple[Plan, ZoneInfo, datetime], us: int) -> None:
    plan, zone, moment = case
    moment += timedelta(microseconds=us)
    assert Evaluator(plan, zone).active_at(to_us(moment)) == oracle.on_at(plan, zone, moment)


@settings(max_examples=150, deadline=None)
@given(cases())
def test_transitions_match_brute_force(case: tuple[Plan, ZoneInfo, datetime]) -> None:
    plan, zone, first = case
    first -= timedelta(hours=12)
    hours = 36
    expected = oracle.changes(plan, zone, first, hours * 60)
    found = transitions(plan, zone, to_us(first), to_us(first + timedelta(hours=hours)) - 1)
    assert [(from_us(t), on) for t, on in found] == expected


@settings(max_examples=150, deadline=None)
@given(cases())
def test_next_change_and_segments_agree(case: tuple[Plan, ZoneInfo, datetime]) -> None:
    plan, zone, first = case
    start, end = to_us(first) - 12 * 60 * MINUTE_US, to_us(first) + 36 * 60 * MINUTE_US
    evaluator = Evaluator(plan, zone)
    pieces = segments(plan, zone, start, end)
    assert pieces[0][0] == start and pieces[-1][1] == end
    for (a, b, on), nxt in zip(pieces, [*pieces[1:], None], strict=True):
        assert a < b and evaluator.active_at(a) == on and evaluator.active_at(b - 1) == on
        if nxt is not None:
            assert nxt[0] == b and nxt[2] != on
            assert evaluator.next_change(a) == b


def brussels() -> ZoneInfo:
    return ZoneInfo("Europe/Brussels")


def local(zone: ZoneInfo, utc_us: int) -> str:
    return from_us(utc_us, zone).strftime("%Y-%m-%d %H:%M %Z")


def on_pieces(plan: Plan, zone: ZoneInfo, day: date) -> list[str]:
    start = to_us(datetime(day.year, day.month, day.day, tzinfo=zone))
    return [
        f"{local(zone, a)} - {local(zone, b)}"
        for a, b in intervals(plan, zone, start, start + 24 * 60 * MINUTE_US)
    ]


def every_day(*windows: Span) -> Plan:
    return Plan(week=(tuple(windows),) * 7)


def test_window_starting_in_the_skipped_hour_starts_at_the_first_valid_minute() -> None:
    plan = every_day((150, 240))  # 02:30-04:00
    assert on_pieces(plan, brussels(), date(2026, 3, 29)) == [
        "2026-03-29 03:00 CEST - 2026-03-29 04:00 CEST"
    ]
    new_york = ZoneInfo("America/New_York")
    assert on_pieces(plan, new_york, date(2026, 3, 8)) == [
        "2026-03-08 03:00 EDT - 2026-03-08 04:00 EDT"
    ]


def test_window_ending_in_the_skipped_hour_ends_when_the_clocks_jump() -> None:
    plan = every_day((60, 150))  # 01:00-02:30
    assert on_pieces(plan, brussels(), date(2026, 3, 29)) == [
        "2026-03-29 01:00 CET - 2026-03-29 03:00 CEST"
    ]


def test_window_wholly_inside_the_skipped_hour_does_not_happen() -> None:
    plan = every_day((130, 150))  # 02:10-02:30
    assert on_pieces(plan, brussels(), date(2026, 3, 29)) == []
    assert on_pieces(plan, brussels(), date(2026, 3, 30)) == [
        "2026-03-30 02:10 CEST - 2026-03-30 02:30 CEST"
    ]


def test_window_in_the_repeated_hour_happens_once_at_its_first_occurrence() -> None:
    plan = every_day((150, 165))  # 02:30-02:45
    day = date(2026, 10, 25)
    assert on_pieces(plan, brussels(), day) == ["2026-10-25 02:30 CEST - 2026-10-25 02:45 CEST"]
    start = to_us(datetime(2026, 10, 24, 22, tzinfo=UTC))
    assert (
        len([on for _, on in transitions(plan, brussels(), start, start + 6 * 3600 * 10**6) if on])
        == 1
    )


def test_window_across_the_repeated_hour_lasts_one_hour_longer() -> None:
    plan = every_day((60, 240))  # 01:00-04:00: four hours on the night clocks go back
    [(a, b)] = intervals(
        plan,
        brussels(),
        to_us(datetime(2026, 10, 25, tzinfo=brussels())),
        to_us(datetime(2026, 10, 25, 12, tzinfo=brussels())),
    )
    assert (b - a) // (3600 * 10**6) == 4
    assert local(brussels(), a) == "2026-10-25 01:00 CEST"
    assert local(brussels(), b) == "2026-10-25 04:00 CET"


def test_window_past_midnight_belongs_to_its_start_day_even_on_an_exception() -> None:
    plan = Plan(
        week=(((22 * 60, 30 * 60),),) * 7,  # 22:00-06:00 every night
        exceptions={date(2026, 12, 25): ()},  # Christmas: off all day
    )
    zone = brussels()
    assert on_pieces(plan, zone, date(2026, 12, 25)) == [
        "2026-12-24 22:00 CET - 2026-12-25 06:00 CET"
    ]


def test_resolve_is_the_identity_on_ordinary_times() -> None:
    zone = ZoneInfo("America/New_York")
    assert local(zone, resolve(datetime(2026, 7, 4, 9, 15), zone)) == "2026-07-04 09:15 EDT"
    # the repeated hour: the first 01:30 (daylight time)
    assert local(zone, resolve(datetime(2026, 11, 1, 1, 30), zone)) == "2026-11-01 01:30 EDT"


@pytest.mark.parametrize(
    ("zone", "day", "label"),
    [
        ("Europe/Brussels", date(2026, 3, 29), ("01:00", 3600, 7200)),
        ("Europe/Brussels", date(2026, 10, 25), ("01:00", 7200, 3600)),
        ("America/New_York", date(2026, 3, 8), ("07:00", -18000, -14400)),
        ("America/New_York", date(2026, 11, 1), ("06:00", -14400, -18000)),
    ],
)
def test_offset_changes_are_found_to_the_second(
    zone: str, day: date, label: tuple[str, int, int]
) -> None:
    start = to_us(datetime(day.year, day.month, day.day, tzinfo=UTC))
    [(at, old, new)] = offset_changes(ZoneInfo(zone), start, start + 24 * 3600 * 10**6)
    assert (from_us(at).strftime("%H:%M"), old, new) == label
    assert from_us(at).second == 0
    assert offset_changes(ZoneInfo("UTC"), start, start + 24 * 3600 * 10**6) == []
