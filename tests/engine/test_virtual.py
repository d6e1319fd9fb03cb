"""Virtual inputs (#21): signals in, the same engine as wired inputs, pulses, the
refresh timeout and its fault, configuration changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.config import ArmedBy, Config, InputKind, VirtualInputConfig
from app.events import Cause, Kind
from app.store import ConfigError, parse_config
from tests.engine.rig import Rig

MakeRig = Callable[..., Rig]


def _with_virtual(*virtual: VirtualInputConfig) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        config.virtual_inputs = list(virtual)

    return edit


def test_a_signal_drives_the_linked_relay_at_once_and_is_logged_with_who(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(_with_virtual(VirtualInputConfig(name="Yard camera", outputs=[2])))
    assert rig.engine.signal(1, "active", None, "token:frigate") is True
    assert rig.relays == [False, True, False, False]  # no debounce: the sender did it
    (event,) = rig.of_kind(Kind.INPUT)
    assert (event.channel, event.state, event.cause, event.source) == (
        "Yard camera",
        "alarm",
        Cause.INPUT,
        "token:frigate",
    )
    assert event.detail == {"virtual": "V1", "kind": "alarm"}
    assert rig.engine.signal(1, "active", None, "token:frigate") is False  # a refresh
    assert len(rig.of_kind(Kind.INPUT)) == 1
    assert rig.engine.signal(1, "inactive", None, "ann") is True
    assert rig.relays == [False] * 4
    assert rig.states(Kind.INPUT, "Yard camera") == ["alarm", "normal"]


def test_a_pulse_ends_by_itself(make_rig: MakeRig) -> None:
    rig = make_rig(_with_virtual(VirtualInputConfig(name="V1", outputs=[1])))
    rig.engine.signal(1, "pulse", 5, "ann")
    rig.run_ms(4_900)
    assert rig.relays[0] is True
    rig.run_ms(200)
    assert rig.relays[0] is False
    ended = rig.of_kind(Kind.INPUT)[-1]
    assert (ended.state, ended.source) == ("normal", "pulse by ann")
    assert not rig.engine.faults


def test_a_sender_that_stops_refreshing_falls_back_to_normal_with_a_fault(
    make_rig: MakeRig,
) -> None:
    zone = VirtualInputConfig(name="Panel zone 3", outputs=[1], refresh_s=30)
    rig = make_rig(_with_virtual(zone))
    rig.engine.signal(1, "active", None, "sia:1234")
    rig.run_ms(20_000)
    rig.engine.signal(1, "active", None, "sia:1234")  # refreshed: 30 s from now
    rig.run_ms(29_000)
    assert rig.relays[0] is True
    assert "Panel zone 3:signal-lost" not in rig.engine.faults
    rig.run_ms(2_000)
    assert rig.relays[0] is False
    fault = rig.engine.faults["Panel zone 3:signal-lost"]
    assert fault["code"] == "signal-lost"
    assert rig.states(Kind.FAULT) == ["raised"]
    status = rig.engine.status()["virtual_inputs"][0]
    assert (status["signal_lost"], status["alarm"], status["label"]) == (True, False, "V1")
    rig.engine.signal(1, "inactive", None, "sia:1234")  # back: the fault clears
    assert rig.states(Kind.FAULT) == ["raised", "cleared"]
    assert not rig.engine.faults


def test_kind_and_arming_apply_as_to_a_wired_input(make_rig: MakeRig) -> None:
    def edit(config: Config) -> None:
        config.inputs[0].outputs = []
        config.virtual_inputs = [
            VirtualInputConfig(name="Panel armed", kind=InputKind.ARMED_STATE),
            VirtualInputConfig(name="Zone 1", outputs=[1], armed_by=ArmedBy.PANEL),
            VirtualInputConfig(name="Tamper", outputs=[3], kind=InputKind.H24),
        ]

    rig = make_rig(edit)
    rig.engine.signal(2, "active", None, "sia:1234")
    assert rig.relays[0] is False  # the panel is not armed
    assert rig.of_kind(Kind.INPUT)[-1].state == "alarm-not-armed"
    rig.engine.signal(1, "active", None, "sia:1234")  # the panel arms (an SIA close event)
    assert rig.relays[0] is True  # armed while in alarm: it acts now
    assert ("Zone 1", "armed") in [(e.channel, e.state) for e in rig.of_kind(Kind.INPUT)]
    rig.engine.signal(3, "active", None, "sia:1234")  # 24 h: always acts
    assert rig.relays[2] is True


def test_wired_inputs_are_untouched_and_status_lists_virtual_ones_apart(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(_with_virtual(VirtualInputConfig(name="V1", outputs=[1])))
    rig.close(2)
    rig.run_ms(50)
    assert rig.relays[1] is True
    status = rig.engine.status()
    assert [i["name"] for i in status["inputs"]] == ["IN1", "IN2", "IN3", "IN4"]
    assert [(v["label"], v["virtual"]) for v in status["virtual_inputs"]] == [("V1", True)]


def test_bad_signals_say_what_is_wrong(make_rig: MakeRig) -> None:
    rig = make_rig(_with_virtual(VirtualInputConfig(name="V1")))
    with pytest.raises(ValueError, match="no virtual input V2"):
        rig.engine.signal(2, "active", None, "ann")
    with pytest.raises(ValueError, match="pulse needs"):
        rig.engine.signal(1, "pulse", None, "ann")
    with pytest.raises(ValueError, match="pulse only"):
        rig.engine.signal(1, "active", 3, "ann")


def test_configuration_changes_add_keep_and_remove_virtual_inputs(make_rig: MakeRig) -> None:
    rig = make_rig(_with_virtual(VirtualInputConfig(name="Cam", outputs=[1])))
    rig.engine.signal(1, "active", None, "ann")
    assert rig.relays[0] is True
    more = rig.config.model_copy(deep=True)
    more.virtual_inputs = [
        VirtualInputConfig(name="Cam", outputs=[1]),
        VirtualInputConfig(name="Gate", outputs=[2]),
    ]
    rig.engine.apply_config(Config.model_validate(more.model_dump()), "ann")
    assert rig.relays[0] is True  # kept, still active
    rig.engine.signal(2, "active", None, "ann")
    assert rig.relays[1] is True
    none = rig.config.model_copy(deep=True)
    none.virtual_inputs = []
    rig.engine.apply_config(Config.model_validate(none.model_dump()), "ann")
    assert rig.relays[:2] == [False, False]  # removed: their outputs let go
    assert rig.engine.status()["virtual_inputs"] == []


def test_configuration_rules_cover_virtual_inputs() -> None:
    base = {
        "inputs": [{"name": "IN1"}],
        "outputs": [{"name": "OUT1"}],
    }
    assert parse_config(base).virtual_inputs == []  # stored configurations still load
    with pytest.raises(ConfigError, match="virtual input V1 \\(Cam\\) links output 2"):
        parse_config({**base, "virtual_inputs": [{"name": "Cam", "outputs": [2]}]})
    with pytest.raises(ConfigError, match="IN1 used twice"):
        parse_config({**base, "virtual_inputs": [{"name": "IN1"}]})
    with pytest.raises(ConfigError, match="virtual_inputs"):
        parse_config({**base, "virtual_inputs": [{"name": f"V{k}"} for k in range(9)]})
    with pytest.raises(ConfigError, match="contact"):  # no wire, no contact type
        parse_config({**base, "virtual_inputs": [{"name": "Cam", "contact": "NC"}]})
    armed = {"name": "Zone", "armed_by": "panel"}
    with pytest.raises(ConfigError, match="no input is of kind 'armed-state'"):
        parse_config({**base, "virtual_inputs": [armed]})
    panel = {"name": "Panel", "kind": "armed-state"}
    assert len(parse_config({**base, "virtual_inputs": [panel, armed]}).virtual_inputs) == 2


def test_a_flapping_sender_is_chatter_like_a_flapping_wire(make_rig: MakeRig) -> None:
    rig = make_rig(_with_virtual(VirtualInputConfig(name="Cam", outputs=[1], chatter_changes=4)))
    for k in range(4):
        rig.engine.signal(1, "inactive" if k % 2 else "active", None, "token:cam")
        rig.run_ms(100)
    assert "Cam:chatter" in rig.engine.faults
    assert rig.relays[0] is False  # relays still follow: the last signal was inactive
    rig.run_ms(11_000)
    assert "Cam:chatter" not in rig.engine.faults
