"""AlarmBridge's hardware layer: GPIO and nothing else. It never imports ``app``.

- :mod:`hardware.factory`: pick the pin backend (lgpio, RPi.GPIO, simulated).
- :mod:`hardware.boards`: pin maps and presets, validated.
- :mod:`hardware.devices`: alarm inputs, relays, the button and the status LED.
- :mod:`hardware.board`: one pin map opened as a :class:`Board`.
- :mod:`hardware.simulation`: drive a board on simulated pins.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hardware.board import Board, relays_safe_on_sigterm
    from hardware.boards import PRESETS, BoardSpec, InputSpec, RelaySpec, preset
    from hardware.devices import (
        AlarmInput,
        ContactChange,
        LedPattern,
        ManualButton,
        Relay,
        StatusLED,
    )
    from hardware.errors import HardwareError, NotSimulatedError, PinFactoryError, PinMapError
    from hardware.factory import SimulatedPinFactory, make_pin_factory, pi_model
    from hardware.simulation import SimulatedBoard

#: where each name lives: imported on first use (PEP 562), so that a process that
#: needs only the pin maps (the web process: hardware.boards) never imports gpiozero
_WHERE = {
    "Board": "board",
    "relays_safe_on_sigterm": "board",
    "PRESETS": "boards",
    "BoardSpec": "boards",
    "InputSpec": "boards",
    "RelaySpec": "boards",
    "preset": "boards",
    "AlarmInput": "devices",
    "ContactChange": "devices",
    "LedPattern": "devices",
    "ManualButton": "devices",
    "Relay": "devices",
    "StatusLED": "devices",
    "HardwareError": "errors",
    "NotSimulatedError": "errors",
    "PinFactoryError": "errors",
    "PinMapError": "errors",
    "SimulatedPinFactory": "factory",
    "make_pin_factory": "factory",
    "pi_model": "factory",
    "SimulatedBoard": "simulation",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'hardware' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hardware.{where}"), name)
    globals()[name] = value
    return value


__all__ = [
    "PRESETS",
    "AlarmInput",
    "Board",
    "BoardSpec",
    "ContactChange",
    "HardwareError",
    "InputSpec",
    "LedPattern",
    "ManualButton",
    "NotSimulatedError",
    "PinFactoryError",
    "PinMapError",
    "Relay",
    "RelaySpec",
    "SimulatedBoard",
    "SimulatedPinFactory",
    "StatusLED",
    "make_pin_factory",
    "pi_model",
    "preset",
    "relays_safe_on_sigterm",
]
