"""Inputs, relays, the button and the LED on gpiozero's real MockFactory pins."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time

import pytest
from gpiozero import OutputDevice
from gpiozero.pins import Pin

from hardware import (
    PRESETS,
    AlarmInput,
    Board,
    ContactChange,
    LedPattern,
    ManualButton,
    Relay,
    SimulatedBoard,
    StatusLED,
    make_pin_factory,
    relays_safe_on_sigterm,
)
from hardware.factory import SimulatedPinFactory


def _open(name: str) -> Board:
    spec = PRESETS[name]
    return Board(spec, make_pin_factory("mock", boot_levels=spec.boot_levels()))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_raw_contact_on_every_input(name: str) -> None:
    with _open(name) as board:
        sim = SimulatedBoard(board)
        changes: list[ContactChange] = []
        board.set_input_handler(changes.append)
        for n, alarm_input in enumerate(board.inputs, 1):
            level_when_closed = board.spec.inputs[n - 1].closed_level
            sim.close_contact(n)
            pin_high = board.pin_factory.pin(alarm_input.pin).state
            assert pin_high == (level_when_closed == "high")
            assert alarm_input.closed is True
            sim.open_contact(n)
            assert alarm_input.closed is False
        names = [i.name for i in board.inputs]
        assert [(c.name, c.closed) for c in changes] == [
            (name, closed) for name in names for closed in (True, False)
        ]


def test_handler_gets_each_change_once(sim_factory: SimulatedPinFactory) -> None:
    changes: list[ContactChange] = []
    door = AlarmInput("IN1", 5, handler=changes.append, pin_factory=sim_factory)
    pin = sim_factory.pin(5)
    before = time.monotonic_ns()
    pin.drive_low()
    pin.drive_low()  # same level again: no new change
    pin.drive_high()
    pin.drive_high()
    pin.drive_low()
    assert [c.closed for c in changes] == [True, False, True]
    assert all(before <= c.t_ns <= time.monotonic_ns() for c in changes)
    assert changes[0].t_ns <= changes[1].t_ns <= changes[2].t_ns
    door.close()


def test_input_reads_level_at_start_without_an_edge(sim_factory: SimulatedPinFactory) -> None:
    changes: list[ContactChange] = []
    sim_factory.pin(6).drive_low()
    door = AlarmInput("IN2", 6, handler=changes.append, pin_factory=sim_factory)
    # The pull-up would float it high; the optocoupler holds it low: closed.
    sim_factory.pin(6).drive_low()
    assert door.closed is True
    door.close()


def test_handler_exception_does_not_stop_later_edges(
    sim_factory: SimulatedPinFactory, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[bool] = []

    def flaky(change: ContactChange) -> None:
        seen.append(change.closed)
        if len(seen) <= 3:
            raise RuntimeError("handler bug")

    door = AlarmInput("IN1", 5, handler=flaky, pin_factory=sim_factory)
    pin = sim_factory.pin(5)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            pin.drive_low()
            pin.drive_high()
    assert seen == [True, False] * 3
    assert door.callback_errors == 3
    assert isinstance(door.last_callback_error, RuntimeError)
    reported = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert len(reported) == 1  # reported once, then only counted
    door.close()


def test_button_press_and_release(sim_factory: SimulatedPinFactory) -> None:
    changes: list[ContactChange] = []
    button = ManualButton(24, handler=changes.append, pin_factory=sim_factory)
    sim_factory.pin(24).drive_low()
    assert button.pressed
    sim_factory.pin(24).drive_high()
    assert not button.pressed
    assert [(c.name, c.closed) for c in changes] == [("button", True), ("button", False)]
    button.close()


def _levels(factory: SimulatedPinFactory, pin: int) -> list[bool]:
    return [bool(s.state) for s in factory.pin(pin).states]


@pytest.mark.parametrize(("pin", "active_high"), [(17, True), (26, False), (5, False), (4, True)])
def test_relay_never_passes_through_active_level(pin: int, active_high: bool) -> None:
    active_level = active_high
    # config.txt holds the line at its off level from power-on.
    factory = SimulatedPinFactory(boot_levels={pin: not active_high})
    relay = Relay("OUT1", pin, active_high=active_high, pin_factory=factory)
    relay.close()
    relay.close()  # twice is harmless
    assert active_level not in _levels(factory, pin)
    assert factory.pin(pin).state == (not active_level)  # released, held at off level
    relay.set(True)  # ignored after close
    assert active_level not in _levels(factory, pin)
    factory.reset()


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_switches_and_closes_to_safe_state(active_high: bool) -> None:
    factory = SimulatedPinFactory(boot_levels={17: not active_high})
    relay = Relay("OUT1", 17, active_high=active_high, pin_factory=factory)
    relay.on()
    assert relay.is_active
    assert factory.pin(17).state == active_high
    relay.close()
    assert not relay.is_active
    assert _levels(factory, 17) == [not active_high, active_high, not active_high]
    factory.reset()


def test_stock_two_step_claim_would_click() -> None:
    """The check above can fail: gpiozero's stock claim (output, then level) clicks an
    active-low relay on, as its lgpio backend does (gpiozero PR #1177)."""
    factory = SimulatedPinFactory(boot_levels={26: True})
    pin = factory.pin(26)
    Pin.output_with_state(pin, True)  # the base class's two-step version
    assert _levels(factory, 26) == [True, False, True]  # a LOW blip: relay on
    factory.reset()


def test_unprepared_active_low_pin_is_active_until_claimed() -> None:
    """Without the config.txt line, an active-low relay on a pin pulled down at reset is
    on from power-on until AlarmBridge claims it: why every preset ships those lines."""
    factory = SimulatedPinFactory()
    relay = Relay("OUT1", 26, active_high=False, pin_factory=factory)
    assert _levels(factory, 26) == [False, True]
    assert not relay.is_active
    relay.close()
    factory.reset()


def test_plain_gpiozero_device_also_claims_in_one_step() -> None:
    factory = SimulatedPinFactory(boot_levels={20: True})
    device = OutputDevice(20, active_high=False, initial_value=False, pin_factory=factory)
    device.close()
    assert _levels(factory, 20) == [True]
    factory.reset()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_board_close_leaves_every_relay_safe(name: str) -> None:
    board = _open(name)
    for relay in board.relays:
        relay.on()
    board.close()
    for spec in board.spec.relays:
        states = board.pin_factory.pin(spec.pin).states
        assert bool(states[-1].state) == (not spec.active_high)
    board.pin_factory.reset()


def _sigterm_myself() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)  # the handler interrupts this


def test_sigterm_puts_relays_in_safe_state() -> None:
    board = _open("waveshare-rpi-relay")
    for relay in board.relays:
        relay.on()
    ran: list[str] = []
    with (
        relays_safe_on_sigterm(board, then=lambda: ran.append("then")),
        pytest.raises(SystemExit) as info,
    ):
        _sigterm_myself()
    assert info.value.code == 0
    assert board.relay_states() == [False, False, False]
    assert ran == ["then"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    board.close()


def test_led_patterns(sim_factory: SimulatedPinFactory) -> None:
    led = StatusLED(25, pin_factory=sim_factory)
    led.show(LedPattern.OK)
    assert led.is_lit
    led.show(LedPattern.FAULT)
    deadline = time.monotonic() + 2
    while len(sim_factory.pin(25).states) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    levels = _levels(sim_factory, 25)
    assert len(levels) >= 6
    assert all(a != b for a, b in itertools.pairwise(levels))  # it blinks
    led.show(LedPattern.OFF)
    assert not led.is_lit
    assert LedPattern.SIMULATION.steps.count(1) == 2  # a double flash
    assert sum(LedPattern.SETUP_NEEDED.steps) * 2 == len(LedPattern.SETUP_NEEDED.steps)
    led.close()


def test_board_rolls_back_when_opening_fails(sim_factory: SimulatedPinFactory) -> None:
    spec = PRESETS["default"]
    blocker = OutputDevice(19, pin_factory=sim_factory)  # IN4's pin is taken
    with pytest.raises(Exception, match="already in use"):
        Board(spec, sim_factory)
    blocker.close()
    board = Board(spec, sim_factory)  # the relays and inputs opened before were released
    board.close()
