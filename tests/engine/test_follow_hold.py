"""Follow, then hold: the output follows its inputs, then stays on for hold_ms after
the last one clears (a recorder's alarm-out latch or post-alarm time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Config, OutputConfig, upgrade_document
from app.events import Kind
from app.store import ConfigError, parse_config
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]


def out1(**settings: Any) -> Callable[[Config], None]:
    def edit(c: Config) -> None:
        c.inputs[0].response_ms = 0
        c.inputs[1].response_ms = 0
        c.inputs[1].outputs = [1]
        c.outputs[0] = OutputConfig(name=c.outputs[0].name, dvr_channel="CH1", **settings)

    return edit


def test_follows_then_holds_after_the_alarm_clears(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="follow-hold", hold_ms=10_000))
    rig.close(1)
    rig.run_ms(60_000)
    assert rig.relays[0] is True  # follows, however long the alarm
    rig.open(1)
    assert rig.relays[0] is True
    status = rig.engine.status()["outputs"][0]
    assert status["holding"] is True and status["time_left_ms"] == 10_000
    rig.run_ms(9_999)
    assert rig.relays[0] is True
    rig.run_ms(1)
    assert rig.relays[0] is False
    assert rig.states(Kind.OUTPUT) == ["active", "holding", "idle"]
    holding = next(e for e in rig.of_kind(Kind.OUTPUT) if e.state == "holding")
    assert holding.source == "IN1" and holding.dvr_channel == "CH1"
    assert holding.detail == {"hold_ms": 10_000, "after": "the alarm cleared"}


def test_the_hold_starts_when_the_last_input_clears(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="follow-hold", hold_ms=1_000))
    rig.close(1)
    rig.close(2)
    rig.open(1)
    rig.run_ms(5_000)
    assert rig.relays[0] is True  # IN2 still in alarm: no hold yet
    assert "holding" not in rig.states(Kind.OUTPUT)
    rig.open(2)
    rig.run_ms(999)
    assert rig.relays[0] is True
    rig.run_ms(1)
    assert rig.relays[0] is False


def test_an_alarm_during_the_hold_follows_again_and_holds_anew(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="follow-hold", hold_ms=1_000))
    rig.close(1)
    rig.open(1)
    rig.run_ms(800)
    rig.close(1)  # back in alarm during the hold: no gap, following again
    rig.run_ms(5_000)
    assert rig.relays[0] is True
    rig.open(1)
    rig.run_ms(999)
    assert rig.relays[0] is True
    rig.run_ms(1)
    assert rig.relays[0] is False
    assert rig.states(Kind.OUTPUT) == ["active", "holding", "holding", "idle"]


def test_restart_retrigger_during_the_hold_restarts_the_pattern(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="follow-hold", hold_ms=1_000, retrigger="restart", min_off_ms=200))
    rig.close(1)
    rig.open(1)
    rig.run_ms(500)
    rig.close(1)
    assert rig.relays[0] is False  # restarted: off for the minimum gap first
    rig.run_ms(200)
    assert rig.relays[0] is True


def test_a_stop_by_hand_ends_it_without_a_hold(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="follow-hold", hold_ms=1_000))
    rig.close(1)
    assert rig.engine.manual_stop(1, "ann") is True
    assert rig.relays[0] is False
    rig.open(1)  # clears after the stop: no post-alarm time
    assert rig.relays[0] is False
    assert "holding" not in rig.states(Kind.OUTPUT)


def test_a_stop_by_hand_during_the_hold_ends_it(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="follow-hold", hold_ms=60_000))
    rig.close(1)
    rig.open(1)
    assert rig.engine.manual_stop(1, "ann") is True
    assert rig.relays[0] is False
    rig.run_ms(120_000)
    assert rig.relays[0] is False


def test_pulse_mode_keeps_pulsing_through_the_hold(make_rig: MakeRig) -> None:
    rig = make_rig(
        out1(hold="follow-hold", hold_ms=1_000, mode="pulse", pulse_on_ms=100, pulse_off_ms=100)
    )
    rig.close(1)
    rig.open(1)
    seen = []
    for _ in range(10):
        rig.run_ms(100)
        seen.append(rig.relays[0])
    assert seen[:9] == [False, True, False, True, False, True, False, True, False]
    assert seen[9] is False


def test_disarming_an_input_in_alarm_starts_the_hold(make_rig: MakeRig) -> None:
    rig = make_rig(out1(hold="follow-hold", hold_ms=1_000))
    rig.close(1)
    rig.engine.bypass_input(1, 3600, "ann")  # stops acting: like a disarm
    assert rig.relays[0] is True
    assert rig.states(Kind.OUTPUT) == ["active", "holding"]
    rig.run_ms(1_000)
    assert rig.relays[0] is False


# -- configuration ------------------------------------------------------------


def test_follow_with_a_hold_time_is_refused_with_the_way_out() -> None:
    with pytest.raises(ValidationError, match="choose hold 'follow-hold'"):
        OutputConfig(name="A", hold="follow", hold_ms=5000)


def test_follow_hold_needs_a_hold_time() -> None:
    with pytest.raises(ValidationError, match="needs hold_ms"):
        OutputConfig(name="A", hold="follow-hold", hold_ms=0)


def test_a_stored_config_from_before_keeps_its_behaviour() -> None:
    """follow + hold_ms was silently ignored: reading such a document gives the
    same behaviour (hold_ms 0), not a refusal and not a new hold."""
    from hardware import preset

    doc = Config.model_validate(
        {"inputs": [{"name": "IN1"}], "outputs": [{"name": "OUT1"}]}
    ).model_dump(mode="json")
    doc["outputs"][0]["hold_ms"] = 30_000  # as an older version stored it
    with pytest.raises(ValidationError):
        Config.model_validate(doc)
    config = parse_config(doc)
    assert config.outputs[0].hold == "follow" and config.outputs[0].hold_ms == 0
    assert doc["outputs"][0]["hold_ms"] == 30_000  # the caller's document is untouched
    assert upgrade_document(config.model_dump(mode="json")) == config.model_dump(mode="json")
    assert preset("default")  # (the board is not involved)


def test_parse_config_still_refuses_a_bad_follow_hold() -> None:
    doc = {"inputs": [{"name": "IN1"}], "outputs": [{"name": "O", "hold": "follow-hold"}]}
    with pytest.raises(ConfigError, match="needs hold_ms"):
        parse_config(doc)
