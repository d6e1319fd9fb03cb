"""The board: every device of one pin map, opened together, closed safely.

The appliance reaches the pins only through a :class:`Board`.

>>> from hardware.boards import preset
>>> from hardware.factory import make_pin_factory
>>> spec = preset("default")
>>> with Board(spec, make_pin_factory("mock", boot_levels=spec.boot_levels())) as board:
...     board.relays[0].on()
...     board.relay_states()
[True, False, False, False]
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType

from gpiozero import Factory

from hardware.boards import BoardSpec
from hardware.devices import AlarmInput, ContactHandler, ManualButton, Relay, StatusLED
from hardware.factory import is_simulated

log = logging.getLogger(__name__)


class Board:
    """Opens every input, relay, the button and the LED of ``spec`` on ``pin_factory``.

    Relays are claimed first, each at its off level, so nothing can switch them
    while the inputs come up. If opening fails half-way, what was opened is closed.
    """

    def __init__(self, spec: BoardSpec, pin_factory: Factory) -> None:
        self.spec = spec.validate()
        self.pin_factory = pin_factory
        self.simulated = is_simulated(pin_factory)
        self.relays: list[Relay] = []
        self.inputs: list[AlarmInput] = []
        self.button: ManualButton | None = None
        self.led: StatusLED | None = None
        self._closed = False
        try:  # append one by one, so a failure half-way closes what was opened
            for r in spec.relays:
                self.relays.append(
                    Relay(r.name, r.pin, active_high=r.active_high, pin_factory=pin_factory)
                )
            for i in spec.inputs:
                self.inputs.append(
                    AlarmInput(i.name, i.pin, closed_level=i.closed_level, pin_factory=pin_factory)
                )
            if spec.button is not None:
                self.button = ManualButton(spec.button, pin_factory=pin_factory)
            if spec.led is not None:
                self.led = StatusLED(spec.led, pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise

    def set_input_handler(self, handler: ContactHandler | None) -> None:
        """Send every input's changes to ``handler``."""
        for alarm_input in self.inputs:
            alarm_input.handler = handler

    def read_inputs(self) -> list[bool]:
        """Read every input's contact now (True = closed)."""
        return [alarm_input.closed for alarm_input in self.inputs]

    def relay_states(self) -> list[bool]:
        """Every relay's state (True = energised)."""
        return [relay.is_active for relay in self.relays]

    def all_relays_off(self) -> None:
        """Put every relay in its safe state (de-energised)."""
        for relay in self.relays:
            relay.off()

    def close(self) -> None:
        """Relays off and released first, then everything else. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        devices: list[Relay | AlarmInput | ManualButton | StatusLED | None] = [
            *self.relays,
            *self.inputs,
            self.button,
            self.led,
        ]
        for device in devices:
            if device is None:
                continue
            try:
                device.close()
            except Exception:
                log.exception("closing %r failed", device)

    def __enter__(self) -> Board:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def relays_safe_on_sigterm(board: Board, then: Callable[[], None] | None = None) -> Iterator[None]:
    """While inside, SIGTERM puts every relay in its safe state, runs ``then`` and
    raises ``SystemExit(0)`` so ``finally`` blocks and ``atexit`` still run.

    Without a handler Python dies on SIGTERM without running any of them. Must be
    entered from the main thread.
    """

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        board.all_relays_off()
        log.warning("SIGTERM: every relay is in its safe state")
        if then is not None:
            then()
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
