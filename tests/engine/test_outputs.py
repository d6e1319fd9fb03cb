"""Outputs: every mode x hold x re-trigger rule, manual control, button, restart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.config import Config, OutputConfig
from app.events import Cause, Kind
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]


def out1(**settings: Any) -> Callable[[Config], None]:
    def edit(c: Config) -> None:
        c.inputs[0].response_ms = 0
        c.outputs[0] = OutputConfig.model_validate(c.outputs[0].model_dump() | settings)

    return edit


def levels_over(rig: Rig, ms: int, step: int = 10) -> list[bool]:
    seen = []
    for _ in range(ms // step):
        rig.run_ms(step)
        seen.append(rig.relays[0])
    return seen


def test_follow_source_switch(make_rig: MakeRig) -> None:
    rig = make_rig(out1())
    rig.close(1)
    assert rig.relays[0] is True
    rig.run_ms(10_000)
    assert rig.relays[0] is True  # follows the input, however long
    rig.open(1)
    assert rig.relays[0] is False


def test_fixed_hold_outlasts_the_input(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="fixed", hold_ms=1000))
    rig.close(1)
    rig.open(1)
    rig.run_ms(999)
    assert rig.relays[0] is True
    rig.run_ms(1)
    assert rig.relays[0] is False
    assert rig.engine.status()["outputs"][0]["time_left_ms"] is None


def test_fixed_hold_zero_is_until_stopped(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="fixed", hold_ms=0))
    rig.close(1)
    rig.open(1)
    rig.run_ms(3_600_000)
    assert rig.relays[0] is True
    assert rig.engine.status()["outputs"][0]["until_stopped"] is True
    rig.engine.manual_stop(1, "ann")
    assert rig.relays[0] is False


@pytest.mark.parametrize(
    ("rule", "off_at_ms"),
    [("extend", 1500), ("restart", 1500), ("ignore", 1000)],
)
def test_retrigger_rules_fixed_hold(make_rig: MakeRig, rule: str, off_at_ms: int) -> None:
    rig = make_rig(out1(hold="fixed", hold_ms=1000, retrigger=rule, min_off_ms=100))
    rig.close(1)
    rig.open(1)
    rig.run_ms(500)
    rig.close(1)  # a second alarm half-way
    rig.open(1)
    seen = levels_over(rig, 1200)
    # With "restart" the contact drops for the off-gap so the DVR sees a new alarm.
    gap = [i for i, on in enumerate(seen) if not on]
    if rule == "restart":
        assert gap[0] == 0
        assert seen[10] is True  # back on after the 100 ms off-gap
        assert len(rig.states(Kind.OUTPUT)) >= 3
    first_off_after_gap = next(i for i in gap if i > 10) if rule == "restart" else gap[0]
    assert 500 + (first_off_after_gap + 1) * 10 == pytest.approx(off_at_ms + 100, abs=110)


def test_restart_rule_in_follow_mode(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        out1(retrigger="restart", min_off_ms=200)(c)
        c.inputs[1].response_ms = 0
        c.inputs[1].outputs = [1]

    rig = make_rig(edit)
    rig.close(1)
    rig.close(2)  # a second linked input: the DVR gets a fresh alarm edge
    assert rig.relays[0] is False
    rig.run_ms(200)
    assert rig.relays[0] is True
    assert rig.states(Kind.OUTPUT, "OUT1") == ["active", "idle", "active"]


def test_minimum_off_gap_defers_but_never_loses_a_trigger(make_rig: MakeRig) -> None:
    rig = make_rig(out1(min_off_ms=500))
    rig.close(1)
    rig.open(1)
    rig.close(1)  # inside the gap
    assert rig.relays[0] is False
    rig.run_ms(499)
    assert rig.relays[0] is False
    rig.run_ms(1)
    assert rig.relays[0] is True


def test_pulse_mode_until_the_end(make_rig: MakeRig) -> None:
    rig = make_rig(out1(mode="pulse", pulse_on_ms=100, pulse_off_ms=300))
    rig.close(1)
    seen = levels_over(rig, 800)
    # on 0-100, off 100-400, on 400-500, off 500-800
    assert seen[:10] == [True] * 9 + [False]
    assert seen[39] is True
    assert seen[50] is False
    rig.open(1)
    assert rig.relays[0] is False
    assert rig.states(Kind.OUTPUT, "OUT1") == ["active", "idle"]  # pulses are not rows


def test_pulse_count(make_rig: MakeRig) -> None:
    rig = make_rig(out1(mode="pulse", pulse_on_ms=50, pulse_off_ms=50, pulse_count=3))
    rig.close(1)
    seen = levels_over(rig, 1000)
    rises = sum(1 for a, b in zip([True, *seen], seen, strict=False) if b and not a)
    assert rises == 2  # plus the first, at the edge: three pulses
    assert not any(seen[30:])


def test_pulse_with_fixed_hold(make_rig: MakeRig) -> None:
    rig = make_rig(out1(mode="pulse", pulse_on_ms=50, pulse_off_ms=50, hold="fixed", hold_ms=300))
    rig.close(1)
    rig.open(1)
    seen = levels_over(rig, 600)
    assert any(seen[:30])
    assert not any(seen[30:])


def test_valid_signal_open_energises_at_rest(make_rig: MakeRig) -> None:
    rig = make_rig(out1(valid_signal="open"))
    assert rig.relays[0] is True  # at rest the contact is closed
    rig.close(1)
    assert rig.relays[0] is False  # the alarm opens it
    rig.open(1)
    assert rig.relays[0] is True
    rig.engine.stop()
    assert rig.relays[0] is False  # stopping releases it: the DVR sees an alarm


def test_manual_start_with_duration_and_stop(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.engine.manual_start(2, 500, "ann")
    assert rig.relays[1] is True
    assert rig.engine.status()["outputs"][1]["time_left_ms"] == 500
    rig.run_ms(500)
    assert rig.relays[1] is False
    rig.engine.manual_start(2, None, "ann")
    rig.run_ms(86_400_000)
    assert rig.relays[1] is True
    assert rig.engine.latched() == ["OUT2"]
    rig.engine.manual_stop(2, "bob")
    assert rig.relays[1] is False
    ops = [(e.state, e.source) for e in rig.of_kind(Kind.OPERATOR)]
    assert ops == [("manual-start", "ann"), ("manual-start", "ann"), ("manual-stop", "bob")]


def test_manual_stop_silences_follow_until_the_next_alarm(make_rig: MakeRig) -> None:
    rig = make_rig(out1())
    rig.close(1)
    rig.engine.manual_stop(1, "ann")
    assert rig.relays[0] is False
    rig.run_ms(1000)
    assert rig.relays[0] is False
    rig.open(1)
    rig.close(1)
    assert rig.relays[0] is True


def test_manual_commands_validate(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        c.inputs[3].outputs = []
        c.healthy_output = 4

    rig = make_rig(edit)
    with pytest.raises(ValueError, match="outputs are 1 to 4"):
        rig.engine.manual_start(5, None, "ann")
    with pytest.raises(ValueError, match="healthy relay"):
        rig.engine.manual_stop(4, "ann")


def test_button_pulses_every_dvr_output(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.sim.press()
    rig.run_ms(60)
    rig.sim.release()
    assert rig.relays == [True] * 4
    rig.run_ms(2940)
    assert rig.relays == [True] * 4
    rig.run_ms(60)
    assert rig.relays == [False] * 4
    (trigger,) = rig.of_kind(Kind.OPERATOR)
    assert (trigger.state, trigger.cause) == ("manual-trigger", Cause.BUTTON)


def test_button_bounce_is_one_trigger(make_rig: MakeRig) -> None:
    rig = make_rig()
    for _ in range(5):
        rig.sim.press()
        rig.run_ms(5)
        rig.sim.release()
        rig.run_ms(5)
    rig.sim.press()
    rig.run_ms(100)
    assert len(rig.of_kind(Kind.OPERATOR)) == 1


def test_button_configurable(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        c.button.outputs = [3]
        c.button.duration_ms = 1000

    rig = make_rig(edit)
    rig.sim.press()
    rig.run_ms(60)
    assert rig.relays == [False, False, True, False]


def test_healthy_relay_on_while_alive(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        c.inputs[3].outputs = []
        c.healthy_output = 4

    rig = make_rig(edit)
    assert rig.relays[3] is True
    rig.sim.press()
    rig.run_ms(60)
    assert rig.relays == [True, True, True, True]
    rig.engine.stop()
    assert rig.relays[3] is False


def test_restart_recomputes_from_wire_and_latches(make_rig: MakeRig) -> None:
    rig = make_rig(latched=("OUT3",), before_start=lambda sim: sim.close_contact(2))
    assert rig.relays == [False, True, True, False]
    (recomputed,) = [e for e in rig.of_kind(Kind.SYSTEM) if e.state == "recomputed"]
    assert recomputed.detail is not None
    assert recomputed.detail["outputs"]["OUT2"] == "active"
    assert recomputed.detail["latched"] == ["OUT3"]
    causes = {e.channel: e.cause for e in rig.of_kind(Kind.OUTPUT)}
    assert causes == {"OUT2": Cause.RESTART, "OUT3": Cause.RESTART}


def test_config_applied_without_restart(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.close(1)
    rig.run_ms(60)
    new = rig.config.model_copy(deep=True)
    new.inputs[0].contact = new.inputs[0].contact.__class__("NC")
    rig.engine.apply_config(Config.model_validate(new.model_dump()))
    assert rig.relays[0] is False  # closed is now "normal"
    rig.open(1)
    rig.run_ms(60)
    assert rig.relays[0] is True


# mode x hold x re-trigger: alarm at 0-100 ms, again at 300-400 ms; fixed hold 1 s;
# off-gap 100 ms; follow-hold holds 1 s after the alarm clears (an alarm during the
# hold follows again). Expected activations (start, end) in ms.
TIMELINES = {
    ("follow", "extend"): [(0, 100), (300, 400)],
    ("follow", "restart"): [(0, 100), (300, 400)],
    ("follow", "ignore"): [(0, 100), (300, 400)],
    ("fixed", "extend"): [(0, 1300)],
    ("fixed", "restart"): [(0, 300), (400, 1300)],
    ("fixed", "ignore"): [(0, 1000)],
    ("follow-hold", "extend"): [(0, 1400)],
    ("follow-hold", "restart"): [(0, 300), (400, 1400)],
    ("follow-hold", "ignore"): [(0, 1400)],
}


@pytest.mark.parametrize("mode", ["switch", "pulse"])
@pytest.mark.parametrize(("hold", "rule"), sorted(TIMELINES))
def test_mode_hold_retrigger_table(make_rig: MakeRig, mode: str, hold: str, rule: str) -> None:
    rig = make_rig(
        out1(
            mode=mode,
            pulse_on_ms=50,
            pulse_off_ms=50,
            hold=hold,
            hold_ms=0 if hold == "follow" else 1000,  # follow takes no hold time
            retrigger=rule,
            min_off_ms=100,
        )
    )
    t0 = rig.clock.monotonic_ns()
    first_signal = []
    for at, closed in [(0, True), (100, False), (300, True), (400, False)]:
        rig.run_ms(at - (rig.clock.monotonic_ns() - t0) / 1e6)
        (rig.close if closed else rig.open)(1)
        if at == 0:
            first_signal.append(rig.relays[0])
    rig.run_ms(2000)
    changes = [(round((e.mono_ns - t0) / 1e6), e.state) for e in rig.of_kind(Kind.OUTPUT)]
    starts = [t for t, state in changes if state == "active"]
    ends = [t for t, state in changes if state == "idle"]
    assert list(zip(starts, ends, strict=True)) == TIMELINES[(hold, rule)]
    assert first_signal == [True]  # the contact closes at the alarm's edge, in both modes
    assert rig.relays[0] is False
