"""Inputs: debounce, NO/NC x kind x armed truth table, chatter, stuck, reconciliation."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import pytest

from app.config import ArmedBy, Config, Contact, InputKind
from app.events import Cause, Kind
from hardware import ContactChange, SimulatedBoard
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]


def test_default_links_input_n_to_relay_n(make_rig: MakeRig) -> None:
    rig = make_rig()
    for n in range(1, 5):
        rig.close(n)
        rig.run_ms(50)
        assert rig.relays == [i == n for i in range(1, 5)]
        rig.open(n)
        rig.run_ms(50)
        assert rig.relays == [False] * 4
    outs = [e for e in rig.of_kind(Kind.OUTPUT)]
    assert [(e.channel, e.dvr_channel, e.state) for e in outs[:2]] == [
        ("OUT1", "CH1", "active"),
        ("OUT1", "CH1", "idle"),
    ]
    assert outs[0].cause is Cause.INPUT
    assert outs[0].source == "IN1"


def test_debounce_needs_a_stable_level(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.close(1)
    rig.run_ms(49)
    assert rig.relays[0] is False
    rig.open(1)  # bounced back before 50 ms: nothing happened
    rig.run_ms(100)
    assert rig.relays[0] is False
    assert rig.states(Kind.INPUT) == []
    rig.close(1)
    rig.run_ms(50)
    assert rig.relays[0] is True
    (event,) = rig.of_kind(Kind.INPUT)
    # The event carries the time of the edge, not of the end of the debounce.
    assert event.mono_ns == rig.clock.monotonic_ns() - 50_000_000


def test_zero_response_time_acts_at_once(make_rig: MakeRig) -> None:
    rig = make_rig(lambda c: setattr(c.inputs[0], "response_ms", 0))
    rig.close(1)
    assert rig.relays[0] is True


CASES = list(
    itertools.product(
        [Contact.NO, Contact.NC],
        [InputKind.ALARM, InputKind.H24, InputKind.DVR],
        [ArmedBy.SCHEDULE, ArmedBy.PANEL, ArmedBy.BOTH],
        [False, True],  # panel armed
    )
)


@pytest.mark.parametrize(("contact", "kind", "armed_by", "panel"), CASES)
def test_truth_table(
    make_rig: MakeRig, contact: Contact, kind: InputKind, armed_by: ArmedBy, panel: bool
) -> None:
    def edit(c: Config) -> None:
        c.inputs[0].contact = contact
        c.inputs[0].kind = kind
        c.inputs[0].armed_by = armed_by
        c.inputs[3].kind = InputKind.ARMED_STATE
        c.inputs[3].outputs = []

    def wire(sim: SimulatedBoard) -> None:
        if contact is Contact.NC:
            sim.close_contact(1)  # a healthy NC loop is closed
        if panel:
            sim.close_contact(4)

    rig = make_rig(edit, before_start=wire)
    assert rig.engine.panel_armed is panel
    assert rig.relays[0] is False  # at rest
    # Make the contact alarm: NO closes, NC opens.
    (rig.open if contact is Contact.NC else rig.close)(1)
    rig.run_ms(60)
    armed = {ArmedBy.SCHEDULE: True, ArmedBy.PANEL: panel, ArmedBy.BOTH: panel}[armed_by]
    acts = kind is not InputKind.ALARM or armed
    assert rig.relays[0] is acts
    expected_state = "alarm" if acts or kind is not InputKind.ALARM else "alarm-not-armed"
    assert rig.states(Kind.INPUT, "IN1") == [expected_state]
    (rig.close if contact is Contact.NC else rig.open)(1)
    rig.run_ms(60)
    assert rig.relays[0] is False
    assert rig.states(Kind.INPUT, "IN1")[-1] == "normal"


def test_disabled_input_does_nothing(make_rig: MakeRig) -> None:
    rig = make_rig(lambda c: setattr(c.inputs[0], "enabled", False))
    rig.close(1)
    rig.run_ms(100)
    assert rig.relays[0] is False
    assert rig.states(Kind.INPUT) == []
    assert rig.engine.status()["inputs"][0]["contact"] == "closed"


def test_disarming_releases_a_follow_output(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        c.inputs[0].armed_by = ArmedBy.PANEL
        c.inputs[3].kind = InputKind.ARMED_STATE
        c.inputs[3].outputs = []

    rig = make_rig(edit)
    rig.close(4)
    rig.run_ms(60)
    assert rig.states(Kind.INPUT, "IN4") == ["armed"]
    rig.close(1)
    rig.run_ms(60)
    assert rig.relays[0] is True
    rig.open(4)
    rig.run_ms(60)
    assert rig.relays[0] is False
    assert rig.states(Kind.INPUT, "IN4") == ["armed", "disarmed"]


def test_chatter_raises_a_fault_limits_rows_and_clears(make_rig: MakeRig) -> None:
    def edit(c: Config) -> None:
        c.inputs[0].response_ms = 0
        c.inputs[0].chatter_changes = 10
        c.inputs[0].chatter_window_s = 2

    rig = make_rig(edit)
    for _ in range(50):
        rig.close(1)
        rig.run_ms(5)
        rig.open(1)
        rig.run_ms(5)
    faults = [e for e in rig.of_kind(Kind.FAULT)]
    assert [(e.channel, e.state) for e in faults] == [("IN1", "raised")]
    assert len(rig.states(Kind.INPUT, "IN1")) < 12  # rate-limited, not 100 rows
    assert rig.engine.status()["inputs"][0]["chattering"] is True
    rig.close(2)  # other inputs are unaffected
    rig.run_ms(50)
    assert rig.relays[1] is True
    rig.run_ms(2100)
    faults = rig.of_kind(Kind.FAULT)
    assert [(e.channel, e.state) for e in faults] == [("IN1", "raised"), ("IN1", "cleared")]
    assert faults[1].detail is not None
    assert faults[1].detail["unlogged_changes"] > 80
    assert rig.relays[0] is False  # the final state is right


def test_where_a_chattering_input_settles_is_logged_when_it_calms_down(
    make_rig: MakeRig,
) -> None:
    def edit(c: Config) -> None:
        c.inputs[0].chatter_changes = 10
        c.inputs[0].chatter_window_s = 2

    rig = make_rig(edit)
    for _ in range(20):  # faster than the 50 ms response time: nothing settles
        rig.close(1)
        rig.run_ms(5)
        rig.open(1)
        rig.run_ms(5)
    rig.close(1)
    rig.run_ms(100)  # it settles closed, unlogged: IN1 is still chattering
    assert rig.states(Kind.INPUT, "IN1") == []
    assert rig.relays[0] is True
    rig.run_ms(2000)
    assert rig.states(Kind.FAULT, "IN1") == ["raised", "cleared"]
    [last] = [e for e in rig.of_kind(Kind.INPUT) if e.channel == "IN1"]
    assert (last.state, last.detail) == (
        "alarm",
        {"contact": "closed", "contact_type": "NO", "kind": "alarm", "after_chatter": True},
    )


def test_stuck_input_fault(make_rig: MakeRig) -> None:
    rig = make_rig(lambda c: setattr(c.inputs[1], "stuck_after_s", 60))
    rig.close(2)
    rig.run_ms(59_000)
    assert rig.of_kind(Kind.FAULT) == []
    rig.run_ms(2_000)
    assert [(e.channel, e.state) for e in rig.of_kind(Kind.FAULT)] == [("IN2", "raised")]
    rig.open(2)
    rig.run_ms(100)
    assert [e.state for e in rig.of_kind(Kind.FAULT)] == ["raised", "cleared"]


def test_an_edge_whose_callback_is_late_is_not_a_missed_edge(make_rig: MakeRig) -> None:
    rig = make_rig()
    late: list[ContactChange] = []
    rig.run_ms(999)
    edge_at = rig.clock.monotonic_ns()
    rig.board.inputs[0].handler = late.append  # the change is on its way to the engine
    rig.sim.close_contact(1)
    rig.run_ms(1)  # the once-a-second re-read of the pins comes first
    rig.engine.contact_changed(dataclasses.replace(late[0], t_ns=edge_at))
    rig.run_ms(100)
    assert "missed-edge" not in rig.states(Kind.SYSTEM)
    [alarm] = [e for e in rig.of_kind(Kind.INPUT) if e.channel == "IN1"]
    assert (alarm.state, alarm.mono_ns) == ("alarm", edge_at)  # dated by its edge
    assert rig.relays[0] is True


def test_missed_edge_is_reconciled(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.board.inputs[0].handler = None  # the edge is lost on its way
    rig.sim.close_contact(1)
    rig.run_ms(1100)
    assert rig.relays[0] is True
    assert "missed-edge" in rig.states(Kind.SYSTEM)
