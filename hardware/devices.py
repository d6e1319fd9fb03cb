"""The appliance's devices, each a thin wrapper around one gpiozero device.

Every class takes its pin factory as an argument: real pins, simulated pins and
test pins run the same code. Callbacks from gpiozero never raise: an exception
in a handler is caught, counted and logged once.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from gpiozero import LED, DigitalInputDevice, Factory, OutputDevice

from hardware.boards import Level

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ContactChange:
    """One raw change of a contact: which one, closed or open, and when.

    ``t_ns`` is ``time.monotonic_ns()`` taken as the callback starts.
    """

    name: str
    closed: bool
    t_ns: int


ContactHandler = Callable[[ContactChange], None]


class _Contact:
    """A contact on an input pin: closed or open, reported to one handler."""

    def __init__(
        self,
        name: str,
        pin: int,
        *,
        closed_level: Level = "low",
        handler: ContactHandler | None = None,
        pin_factory: Factory,
    ) -> None:
        self.name = name
        self.handler = handler
        self.callback_errors = 0
        self.last_callback_error: BaseException | None = None
        # The pull holds the pin at its "open" level; is_active means "closed".
        self._device = DigitalInputDevice(
            pin, pull_up=closed_level == "low", bounce_time=None, pin_factory=pin_factory
        )
        self._device.when_activated = self._on_closed
        self._device.when_deactivated = self._on_opened

    @property
    def pin(self) -> int:
        """The BCM number of the input pin."""
        return int(self._device.pin.info.name.removeprefix("GPIO"))

    @property
    def closed(self) -> bool:
        """Read the contact now: True while it is closed."""
        return bool(self._device.is_active)

    def _on_closed(self) -> None:
        self._deliver(True)

    def _on_opened(self) -> None:
        self._deliver(False)

    def _deliver(self, closed: bool) -> None:
        change = ContactChange(self.name, closed, time.monotonic_ns())
        handler = self.handler
        if handler is None:
            return
        try:
            handler(change)
        except Exception as exc:  # never raise into gpiozero's callback thread
            self.callback_errors += 1
            self.last_callback_error = exc
            if self.callback_errors == 1:
                log.exception(
                    "%s: the change handler failed; later failures are only counted", self.name
                )

    def close(self) -> None:
        self._device.when_activated = None
        self._device.when_deactivated = None
        self._device.close()


class AlarmInput(_Contact):
    """An optocoupled alarm input: reports the raw contact, closed or open.

    With the default ``closed_level="low"`` the optocoupler pulls the pin LOW
    while the contact is closed, against the pin's pull-up. NO/NC is the
    engine's business: this class only says what the wire does.

    >>> from hardware.factory import SimulatedPinFactory
    >>> factory = SimulatedPinFactory()
    >>> changes = []
    >>> door = AlarmInput("IN1", 5, handler=changes.append, pin_factory=factory)
    >>> factory.pin(5).drive_low()
    >>> door.closed, changes[0].closed
    (True, True)
    """


class ManualButton(_Contact):
    """The manual-trigger push button, wired from its pin to GND (pull-up inside).

    The handler gets ``closed=True`` when it is pressed, ``False`` on release.
    """

    def __init__(
        self, pin: int, *, handler: ContactHandler | None = None, pin_factory: Factory
    ) -> None:
        super().__init__(
            "button", pin, closed_level="low", handler=handler, pin_factory=pin_factory
        )

    @property
    def pressed(self) -> bool:
        """True while the button is held down."""
        return self.closed


class Relay:
    """A relay driver, active-high or active-low, that never clicks by itself.

    The line is claimed at its "off" level in one step (with the factories of
    :mod:`hardware.factory`), and released still at its off level by a pull.
    ``on()`` energises the coil; :meth:`close` de-energises it first.

    >>> from hardware.factory import SimulatedPinFactory
    >>> relay = Relay("OUT1", 26, active_high=False, pin_factory=SimulatedPinFactory())
    >>> relay.on(); relay.is_active
    True
    >>> relay.close(); relay.is_active
    False
    """

    def __init__(
        self, name: str, pin: int, *, active_high: bool = True, pin_factory: Factory
    ) -> None:
        self.name = name
        self.active_high = active_high
        self._lock = threading.Lock()
        self._device: OutputDevice | None = OutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )
        self._pin = pin

    @property
    def pin(self) -> int:
        """The BCM number of the driver pin."""
        return self._pin

    @property
    def is_active(self) -> bool:
        """True while the coil is energised. A closed relay reports False."""
        with self._lock:
            return self._device is not None and bool(self._device.is_active)

    def set(self, active: bool) -> None:
        """Energise (True) or release (False) the coil. Ignored after :meth:`close`."""
        with self._lock:
            if self._device is None:
                return
            if active:
                self._device.on()
            else:
                self._device.off()

    def on(self) -> None:
        """Energise the coil."""
        self.set(True)

    def off(self) -> None:
        """Release the coil: the safe state."""
        self.set(False)

    def close(self) -> None:
        """Go to the safe state and release the pin (it stays at its off level)."""
        with self._lock:
            if self._device is None:
                return
            self._device.off()
            self._device.close()
            self._device = None


class LedPattern(Enum):
    """What the status LED says. Each pattern is a cycle of 100 ms steps."""

    OFF = "off"
    OK = "ok"  # steady on
    FAULT = "fault"  # fast blink, 5 Hz
    SIMULATION = "simulation"  # double flash every second
    SETUP_NEEDED = "setup-needed"  # slow blink, 0.5 Hz

    @property
    def steps(self) -> tuple[int, ...]:
        return _PATTERN_STEPS[self]


_PATTERN_STEPS: dict[LedPattern, tuple[int, ...]] = {
    LedPattern.OFF: (0,),
    LedPattern.OK: (1,),
    LedPattern.FAULT: (1, 0),
    LedPattern.SIMULATION: (1, 0, 1, 0, 0, 0, 0, 0, 0, 0),
    LedPattern.SETUP_NEEDED: (1,) * 10 + (0,) * 10,
}
STEP_SECONDS = 0.1


class StatusLED:
    """The status LED, showing one :class:`LedPattern` at a time.

    Blinking runs on gpiozero's own source thread; a steady pattern uses none.
    """

    def __init__(self, pin: int, *, pin_factory: Factory) -> None:
        self._led = LED(pin, initial_value=False, pin_factory=pin_factory)
        self._led.source_delay = STEP_SECONDS
        self.pattern = LedPattern.OFF

    @property
    def is_lit(self) -> bool:
        """Whether the LED is lit at this instant."""
        return bool(self._led.is_active)

    def show(self, pattern: LedPattern) -> None:
        """Switch to ``pattern`` (a no-op if it is already showing)."""
        if pattern is self.pattern:
            return
        self.pattern = pattern
        steps = pattern.steps
        self._led.source = None
        if len(steps) == 1:
            self._led.value = steps[0]
        else:
            self._led.source = itertools.cycle(steps)

    def close(self) -> None:
        self._led.source = None
        self._led.close()
