"""Presets and pin-map validation."""

from __future__ import annotations

from typing import Any

import pytest

from hardware import PRESETS, Board, BoardSpec, PinMapError, make_pin_factory, preset
from hardware.pins import HEADER_PIN

# The pin maps as docs/wiring.md and the design notes state them.
DOCUMENTED = {
    "default": ([5, 6, 13, 19], [17, 27, 22, 23], True, "low"),
    "waveshare-rpi-relay": ([5, 6, 13, 19], [26, 20, 21], False, "low"),
    "waveshare-relay-b": ([17, 27, 22, 23], [5, 6, 13, 16, 19, 20, 21, 26], False, "low"),
    "pimoroni-automation-hat": ([26, 20, 21], [13, 19, 16], True, "high"),
    "sb-pirelay": ([5, 6, 13, 19], [22, 27, 17, 4], True, "low"),
}


def test_every_preset_is_documented() -> None:
    assert set(PRESETS) == set(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_preset_builds_with_its_pins_where_documented(name: str) -> None:
    inputs, relays, active_high, closed_level = DOCUMENTED[name]
    spec = preset(name)
    with Board(spec, make_pin_factory("mock", boot_levels=spec.boot_levels())) as board:
        assert [i.pin for i in board.inputs] == inputs
        assert [r.pin for r in board.relays] == relays
        assert all(r.active_high is active_high for r in board.relays)
        assert {i.closed_level for i in spec.inputs} == {closed_level}
        assert board.button is not None and board.button.pin == 24
        assert board.led is not None
        assert board.relay_states() == [False] * len(relays)
        assert board.read_inputs() == [False] * len(inputs)


def test_default_map_header_pins() -> None:
    spec = preset("default")
    assert [HEADER_PIN[i.pin] for i in spec.inputs] == [29, 31, 33, 35]
    assert [HEADER_PIN[r.pin] for r in spec.relays] == [11, 13, 15, 16]
    assert spec.button is not None and HEADER_PIN[spec.button] == 18
    assert spec.led is not None and HEADER_PIN[spec.led] == 22


def test_config_txt_holds_relays_off() -> None:
    assert preset("default").config_txt_lines() == ["gpio=17,27,22,23=op,dl"]
    assert preset("waveshare-relay-b").config_txt_lines() == ["gpio=5,6,13,16,19,20,21,26=op,dh"]
    mixed = BoardSpec.from_mapping(
        {"inputs": [5], "relays": [17, {"pin": 26, "active_high": False}]}
    )
    assert mixed.config_txt_lines() == ["gpio=17=op,dl", "gpio=26=op,dh"]


def test_unknown_preset_names_the_valid_ones() -> None:
    with pytest.raises(PinMapError, match="waveshare-rpi-relay"):
        preset("nope")


def test_custom_map_from_config() -> None:
    spec = BoardSpec.from_mapping(
        {
            "name": "garage",
            "inputs": [{"name": "door", "pin": 5}, 6],
            "relays": [{"pin": 17, "active_high": False}],
            "button": None,
            "led": 25,
        }
    )
    assert [(i.name, i.pin) for i in spec.inputs] == [("door", 5), ("IN2", 6)]
    assert spec.relays[0].active_high is False
    assert spec.button is None


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PinMapError) as info:
        BoardSpec.from_mapping(data)
    return info.value.problems


def test_pin_used_twice() -> None:
    problems = _problems({"inputs": [5, 17], "relays": [17]})
    assert problems == ["GPIO 17 is used twice: by IN2 and by OUT1"]


def test_pin_used_twice_with_button() -> None:
    assert _problems({"inputs": [24], "relays": [17]}) == [
        "GPIO 24 is used twice: by IN1 and by button"
    ]


@pytest.mark.parametrize(
    ("pin", "bus"),
    [(2, "I2C"), (3, "I2C"), (8, "SPI0"), (10, "SPI0"), (14, "UART"), (0, "HAT ID"), (1, "HAT ID")],
)
def test_reserved_pin_refused(pin: int, bus: str) -> None:
    (problem,) = _problems({"inputs": [pin], "relays": [17]})
    assert f"GPIO {pin}" in problem
    assert bus in problem
    assert "allow_reserved" in problem


def test_reserved_pin_allowed_explicitly() -> None:
    spec = BoardSpec.from_mapping({"inputs": [14], "relays": [17], "allow_reserved": [14]})
    assert spec.inputs[0].pin == 14


@pytest.mark.parametrize("pin", [28, 40, -1, "GPIO17", 17.0, True, None])
def test_pin_that_does_not_exist(pin: object) -> None:
    (problem,) = _problems({"inputs": [pin], "relays": [17]})
    assert "does not exist on the 40-pin header" in problem


def test_every_problem_reported_at_once() -> None:
    problems = _problems({"inputs": [2, 17, 99], "relays": [17]})
    assert len(problems) == 3


def test_bad_keys_and_values() -> None:
    assert _problems({"inputs": [5], "relays": [17], "colour": "red"}) == [
        "unknown key 'colour' in the board map"
    ]
    (problem,) = _problems({"inputs": [{"pin": 5, "closed_level": "up"}], "relays": [17]})
    assert "closed_level must be 'low' or 'high'" in problem
    (problem,) = _problems({"inputs": [5], "relays": [{"pin": 17, "active_high": "yes"}]})
    assert "active_high must be true or false" in problem
    assert _problems({"inputs": [], "relays": []}) == [
        "the board has no alarm inputs",
        "the board has no relays",
    ]


def test_duplicate_names_refused() -> None:
    (problem,) = _problems(
        {"inputs": [{"name": "x", "pin": 5}, {"name": "x", "pin": 6}], "relays": [17]}
    )
    assert "'x' is used twice" in problem
