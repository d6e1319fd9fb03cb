"""Reading when simulated pins changed, on the clock gpiozero's mock pins record with.

gpiozero's ``MockPin`` stamps every change of state with ``time.monotonic()``
(kept as ``_last_change``; ``states`` holds the differences). The edge we drive
and the relay's change are therefore read from the same clock, in the same
process. :class:`PinWatch` also wakes the driver as soon as a watched pin
changes, so edges can be driven one at a time without polling.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any


def last_change(pin: Any) -> float:
    """When ``pin`` last changed (``time.monotonic()`` seconds), as the mock pin recorded it."""
    return float(pin._last_change)


class PinWatch:
    """Records each change of the given (output) pins and signals it.

    The pins' own ``_change_state`` is wrapped on these instances only: the
    time is the one the pin recorded; the wrapper runs after it was taken.
    """

    def __init__(self, pins: Mapping[int, Any]) -> None:
        self.changed = threading.Event()
        self.last: tuple[int, float] | None = None
        self.count = 0
        self._pins = dict(pins)
        for number, pin in self._pins.items():
            self._wrap(number, pin)

    def _wrap(self, number: int, pin: Any) -> None:
        original = pin._change_state

        def change_state(value: bool) -> bool:
            changed = bool(original(value))
            if changed:
                self.last = (number, float(pin._last_change))
                self.count += 1
                self.changed.set()
            return changed

        pin._change_state = change_state

    def arm(self) -> None:
        """Forget the last change: call before driving the next edge."""
        self.last = None
        self.changed.clear()

    def wait(self, timeout: float) -> tuple[int, float] | None:
        """The (pin, time) of the next change, or None after ``timeout`` seconds."""
        if not self.changed.wait(timeout):
            return None
        return self.last

    def unwrap(self) -> None:
        for pin in self._pins.values():
            pin.__dict__.pop("_change_state", None)
