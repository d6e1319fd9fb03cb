"""Schedule validation: what is refused, and that every message names the
windows at fault."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.config import Config, default_config
from app.schedules import Schedule
from app.schedules.model import DAY_NAMES, WEEKDAYS, hhmm
from hardware import preset


def refused(**doc: Any) -> str:
    with pytest.raises(ValidationError) as info:
        Schedule.model_validate({"name": "Test", **doc})
    return str(info.value)


def w(start: str, end: str) -> dict[str, str]:
    return {"start": start, "end": end}


def test_a_good_schedule_with_every_feature() -> None:
    schedule = Schedule.model_validate(
        {
            "name": "Shop closed",
            "week": {
                "mon": [w("00:00", "08:00"), w("12:00", "13:00"), w("18:00", "24:00")],
                "fri": [w("18:00", "08:00")],  # into Saturday
                "sat": [w("08:00", "24:00")],  # touching is fine
                "sun": [w("00:00", "24:00")],
            },
            "exceptions": [
                {"date": "2026-12-25", "windows": [], "note": "Christmas: closed, off"},
                {"date": "2026-12-24", "windows": [w("14:00", "24:00")]},
            ],
        }
    )
    plan = schedule.plan()
    assert plan.week[4] == ((18 * 60, 32 * 60),)
    assert plan.exceptions[date(2026, 12, 25)] == ()


def test_overlapping_windows_are_refused_with_the_merged_window_suggested() -> None:
    message = refused(week={"tue": [w("08:00", "12:00"), w("11:00", "13:00")]})
    assert "Tuesday: 08:00-12:00 overlaps 11:00-13:00: merge them into 08:00-13:00" in message


def test_a_window_inside_a_longer_one_is_refused() -> None:
    message = refused(week={"wed": [w("07:00", "19:00"), w("08:00", "09:00"), w("10:00", "11:00")]})
    assert "07:00-19:00 overlaps 08:00-09:00" in message
    assert "07:00-19:00 overlaps 10:00-11:00" in message


def test_a_night_window_running_into_the_next_day_is_checked_against_it() -> None:
    message = refused(week={"mon": [w("22:00", "06:00")], "tue": [w("05:00", "08:00")]})
    assert "Monday 22:00-06:00 (next day) runs into Tuesday and overlaps its 05:00-08:00" in message


def test_sunday_night_runs_into_monday() -> None:
    message = refused(week={"sun": [w("23:00", "01:00")], "mon": [w("00:30", "02:00")]})
    assert "Sunday 23:00-01:00 (next day) runs into Monday" in message


def test_exceptions_are_checked_against_the_days_around_them() -> None:
    # 2026-12-25 is a Friday; Thursday night runs into it
    message = refused(
        week={"thu": [w("20:00", "07:00")]},
        exceptions=[{"date": "2026-12-25", "windows": [w("06:00", "10:00")]}],
    )
    assert "2026-12-24 20:00-07:00 (next day) runs into 2026-12-25" in message
    message = refused(
        week={"sat": [w("06:00", "10:00")]},
        exceptions=[{"date": "2026-12-25", "windows": [w("20:00", "07:00")]}],
    )
    assert "2026-12-25 20:00-07:00 (next day) runs into 2026-12-26" in message


def test_two_exceptions_for_one_date_are_refused() -> None:
    message = refused(exceptions=[{"date": "2026-01-01"}, {"date": "2026-01-01"}])
    assert "2026-01-01 has two exceptions" in message


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (w("7:00", "08:00"), "'7:00' is not a time: use HH:MM"),
        (w("08:00", "24:30"), "'24:30' is not a time"),
        (w("24:00", "01:00"), "cannot start at 24:00"),
        (w("08:00", "08:00"), "has no length: for all day use 00:00-24:00"),
        (w("00:00", "00:00"), "has no length"),
    ],
)
def test_bad_times_are_refused_clearly(window: dict[str, str], expected: str) -> None:
    assert expected in refused(week={"mon": [window]})


def test_names_and_limits() -> None:
    assert "'always' is built in" in refused(name="Always")
    assert "use letters, digits" in refused(name="<script>")
    assert "at most 16" in refused(
        week={"mon": [w(hhmm(i * 60), hhmm(i * 60 + 30)) for i in range(17)]}
    )
    assert "Extra inputs are not permitted" in refused(week={"monday": []})


def test_the_configuration_checks_the_schedules_it_names() -> None:
    config = default_config(preset("default")).model_dump(mode="json")
    config["inputs"][0]["schedule"] = "Nights"
    config["outputs"][2]["schedule"] = "Nights"
    with pytest.raises(ValidationError) as info:
        Config.model_validate(config)
    assert "input 1 (IN1): schedule 'Nights' does not exist" in str(info.value)
    assert "output 3 (OUT3): schedule 'Nights' does not exist" in str(info.value)
    config["schedules"] = [{"name": "Nights"}, {"name": "Nights"}]
    with pytest.raises(ValidationError, match="schedule names must be unique"):
        Config.model_validate(config)
    config["schedules"] = [{"name": "Nights"}]
    valid = Config.model_validate(config)
    assert valid.schedule_users("Nights") == ["input 1 (IN1)", "output 3 (OUT3)"]


@st.composite
def weeks(draw: st.DrawFn) -> dict[str, list[dict[str, str]]]:
    week: dict[str, list[dict[str, str]]] = {}
    for day in WEEKDAYS:
        windows = []
        for _ in range(draw(st.integers(0, 3))):
            start = draw(st.integers(0, 1439))
            length = draw(st.integers(1, 1440 if start == 0 else 1439))  # 24 h only from 00:00
            end = start + length
            windows.append(w(hhmm(start), "24:00" if end == 1440 else hhmm(end)))
        week[day] = windows
    return week


def minutes_of_week(week: dict[str, list[dict[str, str]]]) -> list[int]:
    """How many windows cover each minute of the week (brute force, wrapping)."""
    cover = [0] * (7 * 1440)
    for i, day in enumerate(WEEKDAYS):
        for window in week[day]:
            start = int(window["start"][:2]) * 60 + int(window["start"][3:])
            end = int(window["end"][:2]) * 60 + int(window["end"][3:])
            end = end if end > start else end + 1440
            for m in range(start, end):
                cover[(i * 1440 + m) % len(cover)] += 1
    return cover


@settings(max_examples=200, deadline=None)
@given(weeks())
def test_a_week_is_refused_exactly_when_two_windows_share_a_minute(
    week: dict[str, list[dict[str, str]]],
) -> None:
    doc = {"name": "Random", "week": week}
    if max(minutes_of_week(week)) > 1:
        with pytest.raises(ValidationError) as info:
            Schedule.model_validate(doc)
        assert any(f"{name}" in str(info.value) for name in DAY_NAMES.values())
    else:
        Schedule.model_validate(doc)
