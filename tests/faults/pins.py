"""Simulated pins that write every change to a file, so a test can read them after
the process that drove them was killed with SIGKILL (gpiozero's ``MockPin.states``
live in memory and die with it).

Test-only. Each line of the record is ``<monotonic ns> <pid> <bcm> <what> <level>
<function>``, written with one ``write`` on an ``O_APPEND`` file: whole lines, in
order, and nothing lost when the writer is killed (the kernel already has them).
``what`` is ``new`` (the pin is opened, at the level it has then), ``claim`` (made
an output) or ``set`` (its level changed). ``time.monotonic_ns`` is system-wide on
Linux, so the test can compare these times with its own.

A new :class:`RecordingPinFactory` on an existing record starts every pin that the
previous process drove as an output at the level it left it at: the kernel keeps
a line's level when the process that claimed it dies (hardware-notes.md, "Relay
safety"). So a restart sees what a restart on a Pi sees, and the record shows
whatever the new process does to a relay while it claims it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from hardware.factory import SimulatedPin, SimulatedPinFactory


@dataclass(frozen=True, slots=True)
class PinLine:
    """One line of a record."""

    t_ns: int
    pid: int
    bcm: int
    what: str  # new | claim | set
    level: bool
    function: str

    @classmethod
    def parse(cls, line: str) -> PinLine:
        t, pid, bcm, what, level, function = line.split()
        return cls(int(t), int(pid), int(bcm), what, level == "1", function)


def read_record(path: Path) -> list[PinLine]:
    """Every complete line of the record, oldest first."""
    if not path.exists():
        return []
    return [PinLine.parse(line) for line in path.read_text().split("\n")[:-1]]


def runs(lines: list[PinLine]) -> Iterator[list[PinLine]]:
    """The record split by the process that wrote it, in order."""
    for _, run in groupby(lines, key=lambda line: line.pid):
        yield list(run)


def held_levels(lines: list[PinLine]) -> dict[int, bool]:
    """The level each output pin of the last process was left at."""
    last = list(runs(lines))[-1:] or [[]]
    held: dict[int, bool] = {}
    outputs: set[int] = set()
    for line in last[0]:
        if line.function == "output":
            outputs.add(line.bcm)
        held[line.bcm] = line.level
    return {bcm: level for bcm, level in held.items() if bcm in outputs}


class RecordingPin(SimulatedPin):
    factory: RecordingPinFactory

    def __init__(self, factory: RecordingPinFactory, info: Any) -> None:
        super().__init__(factory, info)
        factory.write(self, "new")

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed:
            self.factory.write(self, "set")
        return changed

    def output_with_state(self, state: bool) -> None:
        super().output_with_state(state)
        self.factory.write(self, "claim")

    def _set_function(self, value: str) -> None:
        was = self._function
        super()._set_function(value)
        if value == "output" and was != "output":
            self.factory.write(self, "claim")


class RecordingPinFactory(SimulatedPinFactory):
    """A :class:`SimulatedPinFactory` whose pins append every change to ``record``."""

    def __init__(self, record: Path, *, boot_levels: Mapping[int, bool] | None = None) -> None:
        levels = {**(boot_levels or {}), **held_levels(read_record(record))}
        self._fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        super().__init__(boot_levels=levels)
        self.pin_class = RecordingPin

    def write(self, pin: SimulatedPin, what: str) -> None:
        bcm = pin.info.name.removeprefix("GPIO")
        line = f"{time.monotonic_ns()} {os.getpid()} {bcm} {what} {int(pin.state)} {pin.function}"
        os.write(self._fd, (line + "\n").encode())

    def close(self) -> None:
        super().close()
        os.close(self._fd)
