"""The walk test in the engine: inputs tick off with their shortest pulse and
bounce count, channels are pulsed and confirmed, and the report is the detail of
the row that ends the session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.config import Config
from app.events import Kind
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]


def avtech(c: Config) -> None:
    c.inputs[0].response_ms = 50
    c.outputs[2].recorder = "avtech"


def test_a_walk_ticks_off_each_input_with_its_shortest_pulse_and_bounces(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(avtech)
    rig.close(1)  # before the test: not counted
    rig.run_ms(100)
    rig.open(1)
    rig.run_ms(100)
    rig.engine.start_walk_test("ian")
    assert rig.engine.walk_report()["inputs"][0]["tested"] is False  # type: ignore[index]
    # The door opens with a bounce: closed 3 ms, open 2 ms, then closed for good.
    rig.close(1)
    rig.run_ms(3)
    rig.open(1)
    rig.run_ms(2)
    rig.close(1)
    rig.run_ms(500)
    assert rig.relays[0] is True  # linked relays fire during a walk test
    rig.open(1)
    rig.run_ms(200)
    report = rig.engine.walk_report()
    assert report is not None
    in1, in2 = report["inputs"][0], report["inputs"][1]
    assert in1["tested"] is True and in1["back_to_normal"] is True
    assert in1["alarms"] == 1
    assert in1["changes"] == 4 and in1["bounces"] == 2
    assert in1["shortest_pulse_ms"] == 2.0
    assert in1["first_alarm"] is not None
    assert in2["tested"] is False and in2["shortest_pulse_ms"] is None


def test_each_channel_is_pulsed_and_confirmed_then_the_report_is_logged(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(avtech)
    rig.engine.start_walk_test("ian")
    with pytest.raises(ValueError, match="already running, started by ian"):
        rig.engine.start_walk_test("bob")
    with pytest.raises(ValueError, match="output 3 has not been pulsed"):
        rig.engine.walk_confirm(3, True, "ian")
    rig.engine.walk_pulse(3, "ian")
    assert rig.relays[2] is True
    rig.run_ms(5000)
    assert rig.relays[2] is False  # a 5 s pulse
    rig.engine.walk_confirm(3, True, "ian", "CH3 event in the DVR's log")
    rig.engine.walk_pulse(4, "ian")
    rig.engine.walk_confirm(4, False, "ian", "nothing on CH4")
    report = rig.engine.end_walk_test("ian")
    ch3 = report["outputs"][2]
    assert ch3["marked_alarm"] is True and ch3["confirmed_by"] == "ian"
    assert ch3["recorder"] == "avtech" and '"N.C."' in ch3["recorder_setting"]
    assert report["outputs"][3]["marked_alarm"] is False
    assert report["outputs"][0]["pulsed_at"] is None
    states = [e.state for e in rig.of_kind(Kind.OPERATOR)]
    assert states[0] == "walk-test-started" and states[-1] == "walk-test-ended"
    assert "walk-test-channel-ok" in states and "walk-test-channel-failed" in states
    ended = rig.of_kind(Kind.OPERATOR)[-1]
    assert ended.detail == report and ended.source == "ian"
    assert rig.engine.walk_report() is None
    with pytest.raises(ValueError, match="no walk test is running"):
        rig.engine.end_walk_test("ian")
