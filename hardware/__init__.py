"""AlarmBridge's hardware layer: GPIO and nothing else. It never imports ``app``.

- :mod:`hardware.factory`: pick the pin backend (lgpio, RPi.GPIO, simulated).
- :mod:`hardware.boards`: pin maps and presets, validated.
- :mod:`hardware.devices`: alarm inputs, relays, the button and the status LED.
- :mod:`hardware.board`: one pin map opened as a :class:`Board`.
- :mod:`hardware.simulation`: drive a board on simulated pins.
"""

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
