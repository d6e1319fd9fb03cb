"""Pin backend selection and the simulation driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware import (
    Board,
    PinFactoryError,
    SimulatedBoard,
    SimulatedPinFactory,
    make_pin_factory,
    preset,
)
from hardware import factory as factory_module


def _pretend_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: str | None) -> None:
    path = tmp_path / "model"
    if model is not None:
        path.write_bytes(model.encode() + b"\0")
    monkeypatch.setattr(factory_module, "_MODEL_FILES", (path,))


def test_auto_is_simulated_off_a_pi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _pretend_model(monkeypatch, tmp_path, None)
    assert isinstance(make_pin_factory("auto"), SimulatedPinFactory)
    assert isinstance(make_pin_factory("mock"), SimulatedPinFactory)


def test_auto_on_a_pi_never_falls_back_to_simulation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This machine has no GPIO chip, so lgpio must fail with a clear message.
    _pretend_model(monkeypatch, tmp_path, "Raspberry Pi 5 Model B Rev 1.0")
    monkeypatch.chdir(tmp_path)  # importing lgpio creates a FIFO in the working directory
    with pytest.raises(PinFactoryError) as info:
        make_pin_factory("auto")
    message = str(info.value)
    assert "--pins mock" in message
    assert "lgpio" in message


def test_rpigpio_refused_on_a_pi_5(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _pretend_model(monkeypatch, tmp_path, "Raspberry Pi 5 Model B Rev 1.0")
    with pytest.raises(
        PinFactoryError, match=r"does not work on a Raspberry Pi 5: use --pins lgpio"
    ):
        make_pin_factory("rpigpio")


def test_rpigpio_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _pretend_model(monkeypatch, tmp_path, None)
    with pytest.raises(PinFactoryError, match=r"alarmbridge\[pi-legacy\]"):
        make_pin_factory("rpigpio")


def test_unknown_backend() -> None:
    with pytest.raises(PinFactoryError, match="choose one of auto, lgpio, rpigpio, mock"):
        make_pin_factory("pigpio")


def test_simulated_pins_start_at_reset_pulls_and_boot_levels() -> None:
    factory = SimulatedPinFactory(boot_levels={26: True})
    assert factory.pin(5).state is True  # GPIO 0-8 pulled up at reset
    assert factory.pin(17).state is False  # 9-27 pulled down
    assert factory.pin(26).state is True  # held high by config.txt
    factory.reset()


def test_simulation_driver_timeline_and_errors() -> None:
    spec = preset("default")
    board = Board(spec, make_pin_factory("mock", boot_levels=spec.boot_levels()))
    sim = SimulatedBoard(board)
    board.relays[1].on()
    board.relays[1].off()
    assert [c.active for c in sim.relay_timeline(2)] == [False, True, False]
    assert sim.relay_timeline(2)[0].after_s == 0.0
    sim.clear_timelines()
    assert [c.active for c in sim.relay_timeline(2)] == [False]
    with pytest.raises(ValueError, match="this board has inputs 1 to 4"):
        sim.close_contact(5)
    sim.press()
    assert board.button is not None and board.button.pressed
    sim.release()
    assert not board.button.pressed
    board.close()
    board.pin_factory.reset()


def test_simulation_without_button() -> None:
    from hardware import BoardSpec

    spec = BoardSpec.from_mapping({"inputs": [5], "relays": [17], "button": None})
    board = Board(spec, make_pin_factory("mock"))
    with pytest.raises(ValueError, match="no manual button"):
        SimulatedBoard(board).press()
    board.close()
    board.pin_factory.reset()
