"""Pin factories: which GPIO backend drives the pins, chosen in one place.

``make_pin_factory("auto")`` picks lgpio on a Raspberry Pi and simulated pins
anywhere else. Asking for a real backend where none works raises one
:class:`~hardware.errors.PinFactoryError` that says what to install.

Every factory returned here claims an output line at its requested level in one
step and, when the line is released, keeps it at its last level with a pull
resistor instead of letting it float: a relay never clicks because the
appliance started or stopped. (gpiozero's lgpio backend claims the line LOW and
then sets it, which switches an active-low relay on for a moment: gpiozero PR
#1177.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from gpiozero import Factory
from gpiozero.pins.mock import MockFactory, MockPin

from hardware.errors import PinFactoryError
from hardware.pins import reset_pull

log = logging.getLogger(__name__)

PinBackend = Literal["auto", "lgpio", "rpigpio", "mock"]
BACKENDS: tuple[str, ...] = get_args(PinBackend)

_MODEL_FILES = (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))
_NO_GPIO_HINT = "To run without GPIO, on simulated pins, use --pins mock."


class SimulatedPin(MockPin):
    """A gpiozero mock pin that behaves like a Raspberry Pi's line where it matters.

    - At creation it sits at the SoC's reset pull (GPIO 0-8 up, 9-27 down), or at
      the level a ``config.txt`` ``gpio=`` line gives it (``boot_levels``).
    - Claiming it as an output without a level drives it LOW, as the kernel does
      for lgpio, even when ``config.txt`` already made it an output;
      :meth:`output_with_state` claims it at a level in one step.
    - Releasing an output keeps its level through a pull, as our real factories do.

    Its recorded ``states`` therefore show every glitch a real relay would make.
    """

    def __init__(self, factory: SimulatedPinFactory, info: Any) -> None:
        super().__init__(factory, info)
        number = info.name.removeprefix("GPIO")
        bcm = int(number) if number.isdigit() else -1
        self._claimed = False
        if bcm in factory.boot_levels:
            self._function = "output"
            self._state = factory.boot_levels[bcm]
        elif not info.pull and bcm >= 0:
            self._pull = reset_pull(bcm)
            self._state = self._pull == "up"
        self.clear_states()

    def _set_function(self, value: str) -> None:
        if value == "output" and not self._claimed:
            self._claimed = True
            self._function = "output"
            self._change_state(False)
        else:
            super()._set_function(value)

    def output_with_state(self, state: bool) -> None:
        self._claimed = True
        self._function = "output"
        self._change_state(bool(state))

    def close(self) -> None:
        self._claimed = False
        if self._function == "output":
            self.when_changed = None
            self._function = "input"
            self._pull = "up" if self._state else "down"
        else:
            super().close()


class SimulatedPinFactory(MockFactory):
    """gpiozero's MockFactory making :class:`SimulatedPin` pins.

    ``boot_levels`` maps BCM numbers to the level that ``config.txt`` sets at power-on.

    >>> factory = SimulatedPinFactory(boot_levels={26: True})
    >>> factory.pin(26).state
    True
    """

    simulated = True

    def __init__(
        self, *, boot_levels: Mapping[int, bool] | None = None, revision: str | None = None
    ) -> None:
        self.boot_levels: dict[int, bool] = dict(boot_levels or {})
        super().__init__(revision=revision, pin_class=SimulatedPin)


def _lgpio_factory(chip: int | None) -> Factory:
    try:
        import lgpio
        from gpiozero.pins.lgpio import LGPIOFactory, LGPIOPin
    except ImportError as exc:
        raise PinFactoryError(
            "the lgpio GPIO backend is not installed. On the Pi run "
            "\"pip install 'alarmbridge[pi]'\" (or 'apt install python3-lgpio'). " + _NO_GPIO_HINT
        ) from exc

    class SafeLGPIOPin(LGPIOPin):
        _callback: Any

        def output_with_state(self, state: bool) -> None:
            if self._callback is not None:
                self._callback.cancel()
                self._callback = None
            lgpio.gpio_claim_output(self.factory._handle, self._number, int(bool(state)))

        def close(self) -> None:
            handle = self.factory._handle
            if handle is not None and self.function == "output":
                pull = lgpio.SET_PULL_UP if self.state else lgpio.SET_PULL_DOWN
                lgpio.gpio_claim_input(handle, self._number, pull)
            else:
                super().close()

    class SafeLGPIOFactory(LGPIOFactory):
        simulated = False

        def __init__(self, chip: int | None = None) -> None:
            super().__init__(chip=chip)
            self.pin_class = SafeLGPIOPin

    try:
        return SafeLGPIOFactory(chip)
    except Exception as exc:
        raise PinFactoryError(
            f"could not open the GPIO chip with lgpio ({exc}). Is this a Raspberry Pi, "
            "is the user in the 'gpio' group, and is the working directory writable? "
            + _NO_GPIO_HINT
        ) from exc


def _rpigpio_factory() -> Factory:
    if "Raspberry Pi 5" in (pi_model() or ""):
        raise PinFactoryError("RPi.GPIO does not work on a Raspberry Pi 5: use --pins lgpio.")
    try:
        from gpiozero.pins.rpigpio import RPiGPIOFactory, RPiGPIOPin
        from RPi import GPIO
    except (ImportError, RuntimeError) as exc:
        raise PinFactoryError(
            "the RPi.GPIO backend is not available here. On a Pi 4 or older run "
            "\"pip install 'alarmbridge[pi-legacy]'\" (or 'apt install python3-rpi.gpio'); "
            "on a Pi 5 use --pins lgpio. " + _NO_GPIO_HINT
        ) from exc

    class SafeRPiGPIOPin(RPiGPIOPin):
        def close(self) -> None:
            if self.function == "output":
                self.when_changed = None
                pull = GPIO.PUD_UP if self.state else GPIO.PUD_DOWN
                GPIO.setup(self._number, GPIO.IN, pull_up_down=pull)
            else:
                super().close()

    class SafeRPiGPIOFactory(RPiGPIOFactory):
        simulated = False

        def __init__(self) -> None:
            super().__init__()
            self.pin_class = SafeRPiGPIOPin

    try:
        return SafeRPiGPIOFactory()
    except Exception as exc:
        raise PinFactoryError(f"RPi.GPIO could not start ({exc}). " + _NO_GPIO_HINT) from exc


def pi_model() -> str | None:
    """The Raspberry Pi model string from the device tree, or ``None`` elsewhere."""
    for path in _MODEL_FILES:
        try:
            model = path.read_bytes().rstrip(b"\0").decode(errors="replace")
        except OSError:
            continue
        if "Raspberry Pi" in model:
            return model
    return None


def make_pin_factory(
    backend: str = "auto",
    *,
    boot_levels: Mapping[int, bool] | None = None,
    chip: int | None = None,
) -> Factory:
    """Return the pin factory for ``backend`` ("auto", "lgpio", "rpigpio" or "mock").

    "auto" means lgpio on a Raspberry Pi and simulated pins elsewhere. On a Pi it
    never falls back to simulated pins silently: a failing lgpio is an error.
    ``boot_levels`` only affects simulated pins (the levels ``config.txt`` sets).
    """
    if backend not in BACKENDS:
        raise PinFactoryError(
            f"unknown pin backend {backend!r}: choose one of {', '.join(BACKENDS)}."
        )
    if backend == "auto":
        backend = "lgpio" if pi_model() else "mock"
        log.info("pin backend auto-selected: %s", backend)
    if backend == "mock":
        return SimulatedPinFactory(boot_levels=boot_levels)
    if backend == "lgpio":
        return _lgpio_factory(chip)
    return _rpigpio_factory()


def is_simulated(factory: Factory) -> bool:
    """Whether ``factory`` drives simulated pins."""
    return isinstance(factory, MockFactory)
