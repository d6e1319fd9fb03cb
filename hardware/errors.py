"""The hardware package's errors: one hierarchy, messages that say what to do."""

from __future__ import annotations


class HardwareError(Exception):
    """Base class of every error raised by :mod:`hardware`."""


class PinFactoryError(HardwareError):
    """No usable pin factory: the message says what to install or choose instead."""


class PinMapError(HardwareError):
    """A board's pin map is invalid (pin used twice, reserved, or does not exist).

    ``problems`` lists every problem found, so a user can fix them all at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid pin map: " + "; ".join(self.problems))


class NotSimulatedError(HardwareError):
    """A simulation-only action was asked of a board on real pins."""
