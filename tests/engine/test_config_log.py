"""The log tells the truth, in order (#15): a configuration change is logged first,
then what it did to each channel, with cause ``config`` and the state it put the
channel in; a change or a stop that changes nothing logs nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.config import ArmedBy, Config, Contact, InputKind
from app.events import Cause, Kind
from app.schedules import Schedule, Week, Window
from app.schedules.calendar import to_us
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]
Row = tuple[Kind, str | None, str, Cause, str | None]

NOON_THURSDAY = to_us(datetime(2026, 1, 1, 12, tzinfo=UTC))
EVENINGS = [Window(start="18:00", end="23:00")]
WEEKNIGHTS = Schedule(
    name="Weeknights", week=Week(mon=EVENINGS, tue=EVENINGS, wed=EVENINGS, thu=EVENINGS)
)


def fast_inputs(c: Config) -> None:
    for i in c.inputs:
        i.response_ms = 0


def edited(rig: Rig, edit: Callable[[Config], Any]) -> Config:
    """The running configuration with ``edit`` applied, validated as a whole."""
    new = rig.engine.config.model_copy(deep=True)
    edit(new)
    return Config.model_validate(new.model_dump())


def contact(n: int, value: str) -> Callable[[Config], None]:
    def edit(c: Config) -> None:
        c.inputs[n - 1].contact = Contact(value)

    return edit


def rows(rig: Rig, since: int) -> list[Row]:
    return [(e.kind, e.channel, e.state, e.cause, e.source) for e in rig.events[since:]]


def test_no_to_nc_at_rest_logs_the_change_then_the_input_then_the_relay(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(fast_inputs)
    assert rig.relays[0] is False  # IN1's contact rests open: normal for NO
    mark = len(rig.events)
    assert rig.engine.apply_config(edited(rig, contact(1, "NC")), "ann") is True
    assert rig.relays[0] is True  # open is an alarm for NC
    assert rows(rig, mark) == [
        (Kind.CONFIG, None, "changed", Cause.USER, "ann"),
        (Kind.INPUT, "IN1", "alarm", Cause.CONFIG, "ann"),
        (Kind.OUTPUT, "OUT1", "active", Cause.CONFIG, "ann"),
    ]
    change, in1, out1 = rig.events[mark:]
    assert change.detail is not None
    assert change.detail["old"]["inputs"][0]["contact"] == "NO"
    assert change.detail["new"]["inputs"][0]["contact"] == "NC"
    assert in1.detail == {"contact": "open", "contact_type": "NC", "kind": "alarm"}
    assert in1.mono_ns >= change.mono_ns  # dated at the change, not when the contact opened
    assert (out1.dvr_channel, out1.detail) == ("CH1", {"relay": "energised"})
    # The dashboard says what keeps it active: the input, now in alarm.
    out = rig.engine.status()["outputs"][0]
    assert (out["cause"], out["source"]) == ("input", "IN1")

    mark = len(rig.events)
    rig.engine.apply_config(edited(rig, contact(1, "NO")), "bob")
    assert rig.relays[0] is False
    assert rows(rig, mark) == [
        (Kind.CONFIG, None, "changed", Cause.USER, "bob"),
        (Kind.INPUT, "IN1", "normal", Cause.CONFIG, "bob"),
        (Kind.OUTPUT, "OUT1", "idle", Cause.CONFIG, "bob"),
    ]


def test_an_output_started_by_a_change_ends_with_its_input(make_rig: MakeRig) -> None:
    rig = make_rig(fast_inputs)
    rig.engine.apply_config(edited(rig, contact(1, "NC")), "ann")
    mark = len(rig.events)
    rig.close(1)  # closed is normal for NC
    assert rows(rig, mark) == [
        (Kind.INPUT, "IN1", "normal", Cause.INPUT, None),
        (Kind.OUTPUT, "OUT1", "idle", Cause.INPUT, "IN1"),
    ]


def test_valid_signal_open_logs_the_relay_it_flipped(make_rig: MakeRig) -> None:
    rig = make_rig(fast_inputs)
    rig.close(1)
    assert rig.relays[:2] == [True, False]
    mark = len(rig.events)

    def invert(c: Config) -> None:
        c.outputs[0].valid_signal = "open"
        c.outputs[1].valid_signal = "open"

    rig.engine.apply_config(edited(rig, invert), "ann")
    assert rig.relays[:2] == [False, True]
    assert rows(rig, mark) == [
        (Kind.CONFIG, None, "changed", Cause.USER, "ann"),
        (Kind.OUTPUT, "OUT1", "active", Cause.CONFIG, "ann"),
        (Kind.OUTPUT, "OUT2", "idle", Cause.CONFIG, "ann"),
    ]
    assert [e.detail for e in rig.events[mark + 1 :]] == [
        {"relay": "released"},  # active: the contact now opens for an alarm
        {"relay": "energised"},  # idle: the contact is held closed
    ]
    assert rig.engine.status()["outputs"][0]["cause"] == "input"  # still IN1's alarm


def test_a_schedule_that_disarms_an_input_is_named_as_the_cause(make_rig: MakeRig) -> None:
    rig = make_rig(fast_inputs, utc_us=NOON_THURSDAY)
    rig.close(1)
    assert rig.relays[0] is True
    mark = len(rig.events)

    def weeknights(c: Config) -> None:
        c.schedules.append(WEEKNIGHTS)
        c.inputs[0].schedule = "Weeknights"

    rig.engine.apply_config(edited(rig, weeknights), "ann")
    assert rig.relays[0] is False  # disarmed: IN1's alarm no longer drives OUT1
    assert rows(rig, mark) == [
        (Kind.CONFIG, None, "changed", Cause.USER, "ann"),
        (Kind.INPUT, "IN1", "disarmed", Cause.SCHEDULE, "Weeknights"),
        (Kind.OUTPUT, "OUT1", "idle", Cause.CONFIG, "ann"),
    ]
    disarmed = rig.events[mark + 1]
    assert disarmed.detail == {"schedule": "Weeknights", "armed_by": "schedule", "in_alarm": True}


def test_handing_an_input_to_the_panel_is_the_change_s_doing(make_rig: MakeRig) -> None:
    def with_panel(c: Config) -> None:
        fast_inputs(c)
        c.inputs[3].kind = InputKind.ARMED_STATE  # its contact rests open: the panel is off
        c.inputs[3].outputs = []

    rig = make_rig(with_panel)
    mark = len(rig.events)

    def panel(c: Config) -> None:
        c.inputs[0].armed_by = ArmedBy.PANEL

    rig.engine.apply_config(edited(rig, panel), "ann")
    assert rows(rig, mark) == [
        (Kind.CONFIG, None, "changed", Cause.USER, "ann"),
        (Kind.INPUT, "IN1", "disarmed", Cause.CONFIG, "ann"),
    ]


def test_enabling_an_input_logs_the_state_it_is_in(make_rig: MakeRig) -> None:
    def disabled(c: Config) -> None:
        fast_inputs(c)
        c.inputs[1].enabled = False

    rig = make_rig(disabled)
    rig.close(2)
    assert rig.relays[1] is False
    mark = len(rig.events)
    rig.engine.apply_config(edited(rig, lambda c: setattr(c.inputs[1], "enabled", True)), "ann")
    assert rig.relays[1] is True
    assert rows(rig, mark) == [
        (Kind.CONFIG, None, "changed", Cause.USER, "ann"),
        (Kind.INPUT, "IN2", "alarm", Cause.CONFIG, "ann"),
        (Kind.OUTPUT, "OUT2", "active", Cause.CONFIG, "ann"),
    ]


def test_a_contact_type_change_restarts_the_stuck_timer(make_rig: MakeRig) -> None:
    def stuck_after_10s(c: Config) -> None:
        fast_inputs(c)
        c.inputs[0].stuck_after_s = 10

    rig = make_rig(stuck_after_10s)
    rig.close(1)
    rig.run_ms(5_000)
    rig.engine.apply_config(edited(rig, contact(1, "NC")), "ann")  # closed is normal now
    rig.run_ms(60_000)
    assert rig.of_kind(Kind.FAULT) == []  # normal is never stuck
    rig.open(1)
    rig.run_ms(9_000)
    assert rig.of_kind(Kind.FAULT) == []
    rig.run_ms(1_000)
    assert [(e.channel, e.state) for e in rig.of_kind(Kind.FAULT)] == [("IN1", "raised")]


def test_reloading_logs_the_reload_before_what_it_does(make_rig: MakeRig) -> None:
    rig = make_rig(fast_inputs)
    mark = len(rig.events)
    assert rig.engine.apply_config(edited(rig, contact(1, "NC"))) is True
    assert rows(rig, mark) == [
        (Kind.SYSTEM, None, "config-reloaded", Cause.SYSTEM, None),
        (Kind.INPUT, "IN1", "alarm", Cause.CONFIG, None),
        (Kind.OUTPUT, "OUT1", "active", Cause.CONFIG, None),
    ]


def test_saving_the_running_configuration_changes_and_logs_nothing(make_rig: MakeRig) -> None:
    rig = make_rig(fast_inputs)
    rig.close(1)
    rig.engine.manual_stop(1, "ann")  # stopped while IN1 is still in alarm
    rig.engine.manual_start(2, 1000, "ann")
    relays, mark = rig.relays, len(rig.events)
    same = Config.model_validate(rig.engine.config.model_dump(mode="json"))
    changed = [rig.engine.apply_config(same, "bob"), rig.engine.apply_config(same)]
    assert rig.events[mark:] == []
    assert changed == [False, False]
    rig.run_ms(999)
    assert rig.relays == relays  # OUT1 still stopped, OUT2 still timed
    rig.run_ms(1)
    assert rig.relays == [False] * 4


def test_stopping_an_idle_output_is_a_no_op(make_rig: MakeRig) -> None:
    rig = make_rig(fast_inputs)
    mark = len(rig.events)
    stopped = [rig.engine.manual_stop(2, "ann")]
    assert rig.events[mark:] == []
    rig.engine.manual_start(2, None, "ann")
    assert rig.engine.latched() == ["OUT2"]
    stopped += [rig.engine.manual_stop(2, "bob"), rig.engine.manual_stop(2, "bob")]
    assert rows(rig, mark) == [
        (Kind.OPERATOR, "OUT2", "manual-start", Cause.USER, "ann"),
        (Kind.OUTPUT, "OUT2", "active", Cause.USER, "ann"),
        (Kind.OPERATOR, "OUT2", "manual-stop", Cause.USER, "bob"),
        (Kind.OUTPUT, "OUT2", "idle", Cause.USER, "bob"),
    ]
    assert stopped == [False, True, False]  # once is enough
    rig.close(1)
    mark = len(rig.events)
    stopped = [rig.engine.manual_stop(1, "ann"), rig.engine.manual_stop(1, "ann")]
    assert rows(rig, mark) == [  # the second: stopped already, IN1 still in alarm
        (Kind.OPERATOR, "OUT1", "manual-stop", Cause.USER, "ann"),
        (Kind.OUTPUT, "OUT1", "idle", Cause.USER, "ann"),
    ]
    assert stopped == [True, False]


def test_stopping_a_start_that_waits_for_its_off_gap_is_not_a_no_op(make_rig: MakeRig) -> None:
    def gap(c: Config) -> None:
        fast_inputs(c)
        c.outputs[0].min_off_ms = 500

    rig = make_rig(gap)
    rig.close(1)
    rig.open(1)
    rig.close(1)  # inside the off-gap: OUT1 starts when it ends
    assert rig.relays[0] is False
    stopped = rig.engine.manual_stop(1, "ann")
    rig.run_ms(1000)
    assert rig.relays[0] is False
    assert rig.states(Kind.OPERATOR) == ["manual-stop"]
    assert stopped is True
