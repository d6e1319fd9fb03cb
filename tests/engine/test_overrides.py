"""An operator's overrides in the engine: bypass an input for a while, arm or
disarm every alarm input for a while; each logged, each ending by itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.config import Config, InputKind
from app.events import Cause, Kind, NewEvent
from tests.engine.rig import Rig
from tests.engine.test_schedules import at, daily, with_schedule

MakeRig = Callable[..., Rig]
HOUR = 3600


def fast(c: Config) -> None:
    for i in c.inputs:
        i.response_ms = 0


def operator(rig: Rig) -> list[NewEvent]:
    return rig.of_kind(Kind.OPERATOR)


def test_a_bypassed_input_drives_nothing_until_its_time_is_up(make_rig: MakeRig) -> None:
    rig = make_rig(fast)
    rig.engine.bypass_input(1, 2 * HOUR, "ann", "sensor being replaced")
    rig.close(1)
    assert rig.relays[0] is False
    assert rig.states(Kind.INPUT, "IN1")[-1] == "alarm-bypassed"
    rig.open(1)
    bypass = operator(rig)[0]
    assert (bypass.state, bypass.channel, bypass.source, bypass.cause) == (
        "bypass",
        "IN1",
        "ann",
        Cause.USER,
    )
    assert bypass.detail is not None
    assert bypass.detail["for_s"] == 2 * HOUR and bypass.detail["until"].startswith("2026-01-01T02")
    assert rig.engine.override_status()["bypass"][0]["input"] == 1
    rig.run_ms(2 * HOUR * 1000 - 2000)
    rig.close(1)
    assert rig.relays[0] is False  # still bypassed
    rig.run_ms(3000)  # its time is up while the input is in alarm: it drives again
    assert rig.relays[0] is True
    ended = operator(rig)[-1]
    assert (ended.state, ended.cause, ended.source) == ("bypass-ended", Cause.SYSTEM, "ann")
    assert rig.engine.override_status()["bypass"] == []


def test_bypassing_an_input_in_alarm_lets_its_outputs_go_and_ending_it_drives_them(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(fast)
    rig.close(1)
    assert rig.relays[0] is True
    rig.engine.bypass_input(1, HOUR, "ann")
    assert rig.relays[0] is False
    assert rig.engine.end_bypass(1, "bob") is True
    assert rig.relays[0] is True
    assert rig.engine.end_bypass(1, "bob") is False  # nothing to end: not logged
    assert [e.state for e in operator(rig)] == ["bypass", "bypass-ended"]
    assert operator(rig)[-1].source == "bob"


def test_a_bypassed_panel_input_does_not_arm(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        fast(c)
        c.inputs[3].kind = InputKind.ARMED_STATE
        c.inputs[0].armed_by = c.inputs[0].armed_by.__class__("panel")

    rig = make_rig(edit)
    rig.engine.bypass_input(4, HOUR, "ann")
    rig.close(4)  # the faulty armed-state contact
    assert rig.engine.panel_armed is False
    rig.close(1)
    assert rig.relays[0] is False
    rig.engine.end_bypass(4, "ann")
    assert rig.engine.panel_armed is True
    assert rig.relays[0] is True  # armed now, and IN1 is in alarm


def test_arm_all_overrides_the_schedule_then_ends_by_itself(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        fast(c)
        with_schedule(daily("08:00", "09:00"))(c)

    rig = make_rig(edit, utc_us=at(12))
    rig.close(1)
    assert rig.relays[0] is False  # outside its window: not armed
    rig.engine.override_arming(True, HOUR, "ann")
    assert rig.relays[0] is True  # armed by the override; IN1 is in alarm
    armed = [e for e in rig.of_kind(Kind.INPUT) if e.state == "armed"]
    assert armed[-1].source == "ann" and armed[-1].cause is Cause.USER
    assert armed[-1].detail is not None and armed[-1].detail["override"] == "set"
    status = rig.engine.status()
    assert status["inputs"][0]["armed"] is True
    rig.run_ms(HOUR * 1000 + 1000)
    assert rig.relays[0] is False
    assert operator(rig)[-1].state == "arming-override-ended"
    disarmed = [e for e in rig.of_kind(Kind.INPUT) if e.state == "disarmed"]
    assert disarmed[-1].cause is Cause.SCHEDULE and disarmed[-1].source == "Night"


def test_disarm_all_and_end_it_by_hand(make_rig: MakeRig) -> None:
    rig = make_rig(fast)
    rig.engine.override_arming(False, HOUR, "ann")
    rig.close(1)
    assert rig.relays[0] is False
    assert rig.states(Kind.INPUT, "IN1")[-1] == "alarm-not-armed"
    assert rig.engine.end_arming_override("bob") is True
    assert rig.relays[0] is True
    assert rig.engine.end_arming_override("bob") is False


@pytest.mark.parametrize("seconds", [59, 7 * 24 * HOUR + 1])
def test_an_override_outside_a_minute_to_a_week_is_refused(make_rig: MakeRig, seconds: int) -> None:
    rig = make_rig(fast)
    with pytest.raises(ValueError, match="from 1 minute to 168 hours"):
        rig.engine.bypass_input(1, seconds, "ann")
    with pytest.raises(ValueError, match="there is no input 9"):
        rig.engine.bypass_input(9, HOUR, "ann")
    assert operator(rig) == []


def test_overrides_survive_a_restart_and_end_on_time(make_rig: MakeRig) -> None:
    first = make_rig(fast)
    saved: list[object] = []
    first.engine.on_overrides = lambda: saved.append(first.engine.overrides.to_json())
    first.engine.bypass_input(2, HOUR, "ann")
    first.engine.override_arming(False, 2 * HOUR, "ann")
    stored = saved[-1]
    first.shutdown()

    again = make_rig(fast, overrides=stored, before_start=lambda sim: sim.close_contact(2))
    assert again.relays[1] is False  # bypassed from the start: no blip at restart
    assert [b["name"] for b in again.engine.override_status()["bypass"]] == ["IN2"]
    assert again.engine.override_status()["arming_override"]["armed"] is False

    later = make_rig(fast, overrides=stored, utc_us=at(0) + 3 * HOUR * 1_000_000)
    ended = [e for e in operator(later)]
    assert sorted(e.state for e in ended) == ["arming-override-ended", "bypass-ended"]
    assert all("while the io process was stopped" in (e.detail or {})["why"] for e in ended)
    assert later.engine.override_status() == {"bypass": [], "arming_override": None}


def test_damaged_stored_overrides_are_ignored(make_rig: MakeRig) -> None:
    rig = make_rig(fast, overrides={"bypass": {"IN1": {"nonsense": 1}}, "arming": "x"})
    assert rig.engine.override_status() == {"bypass": [], "arming_override": None}
