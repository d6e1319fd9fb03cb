"""Drive a board on simulated pins: flip contacts, press the button, read relays.

The devices are the real ones; only the pins are gpiozero mock pins. Each pin is
driven under one lock, since driving the same mock pin from two threads at once
loses edges.

>>> from hardware.board import Board
>>> from hardware.boards import preset
>>> from hardware.factory import make_pin_factory
>>> board = Board(preset("default"), make_pin_factory("mock"))
>>> sim = SimulatedBoard(board)
>>> sim.close_contact(1); board.inputs[0].closed
True
>>> board.close()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from hardware.board import Board
from hardware.errors import NotSimulatedError


@dataclass(frozen=True, slots=True)
class PinChange:
    """One entry of a relay's recorded timeline: seconds since the previous change."""

    after_s: float
    active: bool


class SimulatedBoard:
    """The simulation driver of a :class:`Board` on simulated pins. Inputs are 1-based."""

    def __init__(self, board: Board) -> None:
        if not board.simulated:
            raise NotSimulatedError(
                "this board runs on real GPIO pins; simulation needs --pins mock"
            )
        self.board = board
        self._lock = threading.Lock()

    def _input_pin(self, n: int) -> Any:
        count = len(self.board.inputs)
        if not 1 <= n <= count:
            raise ValueError(f"there is no input {n}: this board has inputs 1 to {count}")
        return self.board.pin_factory.pin(self.board.inputs[n - 1].pin)

    def _drive(self, pin: Any, closed: bool, closed_level: str) -> None:
        level_high = closed == (closed_level == "high")
        with self._lock:
            if level_high:
                pin.drive_high()
            else:
                pin.drive_low()

    def set_contact(self, n: int, closed: bool) -> None:
        """Close (True) or open (False) the contact on input ``n``."""
        pin = self._input_pin(n)
        self._drive(pin, closed, self.board.spec.inputs[n - 1].closed_level)

    def close_contact(self, n: int) -> None:
        """Close the contact on input ``n`` (1-based)."""
        self.set_contact(n, True)

    def open_contact(self, n: int) -> None:
        """Open the contact on input ``n`` (1-based)."""
        self.set_contact(n, False)

    def _button_pin(self) -> Any:
        if self.board.button is None:
            raise ValueError("this board has no manual button")
        return self.board.pin_factory.pin(self.board.spec.button)

    def press(self) -> None:
        """Press the manual button (and hold it until :meth:`release`)."""
        self._drive(self._button_pin(), True, "low")

    def release(self) -> None:
        """Release the manual button."""
        self._drive(self._button_pin(), False, "low")

    def relay_states(self) -> list[bool]:
        """Every relay's state (True = energised), read from the pins."""
        return self.board.relay_states()

    def relay_timeline(self, n: int) -> list[PinChange]:
        """Relay ``n``'s recorded changes (1-based), as energised/released steps."""
        relay = self.board.spec.relays[n - 1]
        states = self.board.pin_factory.pin(relay.pin).states
        return [PinChange(s.timestamp, bool(s.state) == relay.active_high) for s in states]

    def clear_timelines(self) -> None:
        """Forget the recorded timelines (they grow forever in a long simulation)."""
        with self._lock:
            for relay in self.board.spec.relays:
                self.board.pin_factory.pin(relay.pin).clear_states()
