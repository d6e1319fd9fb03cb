"""Schedules in the engine: arming inputs, timing outputs, exact transitions,
daylight saving and wall-clock steps, with an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.config import ArmedBy, Config, InputKind
from app.events import Cause, Kind, NewEvent
from app.schedules import Schedule, Week, Window
from app.schedules.calendar import from_us, to_us
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]
NAME = "Night"


def at(hour: int, minute: int = 0, day: int = 1, month: int = 1, tz: str = "UTC") -> int:
    return to_us(datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(tz)))


def daily(start: str, end: str, name: str = NAME) -> Schedule:
    window = [Window(start=start, end=end)]
    return Schedule(name=name, week=Week(**{d: window for d in Week.model_fields}))


def with_schedule(
    schedule: Schedule, *, input1: bool = True, output2: bool = False
) -> Callable[[Config], None]:
    def edit(c: Config) -> None:
        c.schedules.append(schedule)
        if input1:
            c.inputs[0].schedule = schedule.name
        if output2:
            c.outputs[1].schedule = schedule.name

    return edit


def arming(rig: Rig, channel: str = "IN1") -> list[NewEvent]:
    return [
        e
        for e in rig.of_kind(Kind.INPUT)
        if e.channel == channel and e.state in ("armed", "disarmed")
    ]


def clock_steps(rig: Rig) -> list[NewEvent]:
    return [e for e in rig.of_kind(Kind.SYSTEM) if e.state == "clock-step"]


def test_an_alarm_outside_the_windows_is_logged_not_armed_and_links_nothing(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00")), utc_us=at(7))
    assert rig.engine.status()["inputs"][0]["armed"] is False
    rig.close(1)
    rig.run_ms(100)
    assert rig.states(Kind.INPUT, "IN1") == ["alarm-not-armed"]
    assert rig.relays[0] is False
    assert rig.states(Kind.OUTPUT) == []


def test_arming_on_time_drives_an_input_already_in_alarm_and_disarming_releases_it(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00")), utc_us=at(7, 59))
    rig.close(1)
    rig.run_ms(100)
    assert rig.relays[0] is False
    rig.run_ms(60_000)
    armed = arming(rig)
    assert [(e.state, e.cause, e.source) for e in armed] == [("armed", Cause.SCHEDULE, NAME)]
    assert armed[0].utc_us == at(8)  # on the minute, not a tick later
    assert rig.relays[0] is True
    [active] = [e for e in rig.of_kind(Kind.OUTPUT) if e.state == "active"]
    assert (active.cause, active.source, active.utc_us) == (Cause.SCHEDULE, "IN1", at(8))
    rig.run_ms(3600_000)
    assert [e.state for e in arming(rig)] == ["armed", "disarmed"]
    assert arming(rig)[1].utc_us == at(9)
    assert rig.relays[0] is False
    assert rig.engine.status()["inputs"][0]["armed"] is False


def test_a_24h_input_ignores_the_schedule(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        with_schedule(daily("08:00", "09:00"))(c)
        c.inputs[0].kind = InputKind.H24

    rig = make_rig(edit, utc_us=at(7))
    rig.close(1)
    rig.run_ms(100)
    assert rig.states(Kind.INPUT, "IN1") == ["alarm"]
    assert rig.relays[0] is True


def test_schedule_and_panel_both_must_arm(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        with_schedule(daily("08:00", "09:00"))(c)
        c.inputs[0].armed_by = ArmedBy.BOTH
        c.inputs[3].kind = InputKind.ARMED_STATE
        c.inputs[3].outputs = []

    rig = make_rig(edit, utc_us=at(7, 59))
    rig.close(4)  # the panel arms
    rig.run_ms(100)
    assert arming(rig) == []  # the schedule is still off
    rig.run_ms(60_000)
    assert [(e.state, e.source) for e in arming(rig)] == [("armed", NAME)]
    rig.open(4)  # the panel disarms inside the window
    rig.run_ms(100)
    assert [(e.state, e.cause, e.source) for e in arming(rig)][-1] == (
        "disarmed",
        Cause.INPUT,
        "IN4",
    )


def test_a_timed_output_is_active_exactly_in_its_windows(make_rig: MakeRig) -> None:
    schedule = daily("08:00", "08:30")
    rig = make_rig(with_schedule(schedule, input1=False, output2=True), utc_us=at(7, 30))
    assert rig.relays[1] is False
    rig.run_ms(2 * 3600_000)
    changes = [(e.state, e.cause, e.source, e.utc_us) for e in rig.of_kind(Kind.OUTPUT)]
    assert changes == [
        ("active", Cause.SCHEDULE, NAME, at(8)),
        ("idle", Cause.SCHEDULE, NAME, at(8, 30)),
    ]
    status = rig.engine.status()["outputs"][1]
    assert (status["schedule"], status["scheduled"], status["active"]) == (NAME, False, False)


def test_a_short_manual_start_inside_a_window_ends_with_the_window(make_rig: MakeRig) -> None:
    rig = make_rig(
        with_schedule(daily("08:00", "09:00"), input1=False, output2=True), utc_us=at(8, 10)
    )
    assert rig.relays[1] is True
    rig.engine.manual_start(2, 60_000, "tester")
    rig.run_ms(51 * 60_000)  # the window ends at 09:00
    assert rig.relays[1] is False


def test_a_forward_step_into_a_window_is_logged_and_arms_once(make_rig: MakeRig) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00")), utc_us=at(7))
    rig.run_ms(1000)
    rig.clock.step_wall_clock(90 * 60)  # NTP: it is really 08:30
    rig.run_ms(1000)
    [step] = clock_steps(rig)
    assert step.detail is not None
    assert step.detail["old"].startswith("2026-01-01T07:00:01")
    assert step.detail["new"].startswith("2026-01-01T08:30:01")
    assert step.detail["step_s"] == 5400
    assert step.detail["skipped"] == {NAME: ["on 2026-01-01T08:00:00.000Z"]}
    assert [(e.state, (e.detail or {}).get("clock_step")) for e in arming(rig)] == [("armed", True)]
    rig.run_ms(10 * 60_000)
    assert len(arming(rig)) == 1
    assert len(clock_steps(rig)) == 1


def test_a_backward_step_inside_a_window_fires_nothing_again(make_rig: MakeRig) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00"), output2=True), utc_us=at(7, 59))
    rig.run_ms(31 * 60_000)  # 08:30
    assert [e.state for e in arming(rig)] == ["armed"]
    rig.clock.step_wall_clock(-20 * 60)  # 08:10
    rig.run_ms(60 * 60_000)  # to 09:10
    assert len(clock_steps(rig)) == 1
    assert "replayed" not in (clock_steps(rig)[0].detail or {})
    assert [e.state for e in arming(rig)] == ["armed", "disarmed"]
    assert [e.state for e in rig.of_kind(Kind.OUTPUT)] == ["active", "idle"]


def test_a_backward_step_out_of_a_window_follows_the_corrected_clock(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00")), utc_us=at(8, 30))
    rig.run_ms(1000)
    rig.clock.step_wall_clock(-3600)  # it is really 07:30
    rig.run_ms(1000)
    [step] = clock_steps(rig)
    assert (step.detail or {})["replayed"] == {NAME: ["on 2026-01-01T08:00:00.000Z"]}
    assert [e.state for e in arming(rig)] == ["disarmed"]
    rig.run_ms(30 * 60_000)
    assert [e.state for e in arming(rig)] == ["disarmed", "armed"]
    assert arming(rig)[-1].utc_us == at(8)


def test_a_step_over_a_whole_window_names_it_and_switches_nothing(make_rig: MakeRig) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00"), output2=True), utc_us=at(7, 30))
    rig.run_ms(1000)
    rig.clock.step_wall_clock(2 * 3600)
    rig.run_ms(1000)
    [step] = clock_steps(rig)
    assert (step.detail or {})["skipped"] == {
        NAME: ["on 2026-01-01T08:00:00.000Z", "off 2026-01-01T09:00:00.000Z"]
    }
    assert arming(rig) == []
    assert rig.of_kind(Kind.OUTPUT) == []


def test_small_corrections_are_not_steps(make_rig: MakeRig) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00")), utc_us=at(7))
    for _ in range(5):
        rig.run_ms(1000)
        rig.clock.step_wall_clock(1.5)
    rig.run_ms(1000)
    assert clock_steps(rig) == []


def brussels_local(utc_us: int) -> str:
    return from_us(utc_us, ZoneInfo("Europe/Brussels")).strftime("%H:%M %Z")


def test_clocks_going_back_fire_a_repeated_hour_window_once(make_rig: MakeRig) -> None:
    rig = make_rig(
        with_schedule(daily("02:30", "02:45"), output2=True),
        tz="Europe/Brussels",
        utc_us=to_us(datetime(2026, 10, 24, 22, tzinfo=UTC)),
    )
    rig.run_ms(5 * 3600_000)  # 00:00 CEST to 04:00 CET
    changes = [(e.state, brussels_local(e.utc_us)) for e in rig.of_kind(Kind.OUTPUT)]
    assert changes == [("active", "02:30 CEST"), ("idle", "02:45 CEST")]
    assert [(e.state, brussels_local(e.utc_us)) for e in arming(rig)] == [
        ("armed", "02:30 CEST"),
        ("disarmed", "02:45 CEST"),
    ]
    assert clock_steps(rig) == []  # daylight saving is not a clock step


def test_clocks_going_forward_start_a_skipped_hour_window_at_three(make_rig: MakeRig) -> None:
    rig = make_rig(
        with_schedule(daily("02:30", "04:00"), output2=True),
        tz="Europe/Brussels",
        utc_us=to_us(datetime(2026, 3, 28, 23, tzinfo=UTC)),
    )
    rig.run_ms(4 * 3600_000)
    changes = [(e.state, brussels_local(e.utc_us)) for e in rig.of_kind(Kind.OUTPUT)]
    assert changes == [("active", "03:00 CEST"), ("idle", "04:00 CEST")]


def test_changing_the_schedule_re_evaluates_at_once(make_rig: MakeRig) -> None:
    rig = make_rig(with_schedule(daily("08:00", "09:00")), utc_us=at(12))
    rig.close(1)
    rig.run_ms(100)
    assert rig.relays[0] is False
    config = rig.engine.config.model_copy(deep=True)
    config.schedules = [daily("11:00", "13:00")]
    rig.engine.apply_config(Config.model_validate(config.model_dump()), "ann")
    # The schedule arms it; the change (by ann) is what started the output...
    assert [(e.state, e.cause, e.source) for e in arming(rig)] == [("armed", Cause.SCHEDULE, NAME)]
    assert rig.relays[0] is True
    [active] = rig.of_kind(Kind.OUTPUT)
    assert (active.state, active.cause, active.source) == ("active", Cause.CONFIG, "ann")
    # ...and IN1's alarm is what keeps it active.
    out = rig.engine.status()["outputs"][0]
    assert (out["cause"], out["source"]) == ("input", "IN1")
