"""The io process's first act: take the instance lock, then claim the relays at
their safe (released) level, before the heavy imports (SQLAlchemy, the engine, the
rest of the io process) and before the database is opened or checked.

``alarmbridge io`` calls :func:`claim_relays` with nothing but the settings and the
hardware layer imported, and hands the result to
:class:`~app.io.process.IoProcess`, whose :class:`~contextlib.ExitStack` then owns
the board and the lock. Until then the pins are held safe by config.txt and the
pulls (docs/wiring.md); this keeps that interval as short as the interpreter allows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gpiozero import Factory

from app.instance import InstanceLock
from app.settings import Settings
from hardware import Board, make_pin_factory


@dataclass
class Claimed:
    """The instance lock and the board, relays claimed, not yet handed on."""

    lock: InstanceLock
    board: Board
    started_mono: float  # when the claim began (the io process's uptime counts from here)

    def release(self) -> None:
        """Close the board (relays to their released level) and release the lock."""
        try:
            self.board.close()
        finally:
            self.lock.release()

    @contextmanager
    def until_handed_on(self) -> Iterator[None]:
        """Release both if the block fails (before an IoProcess took them)."""
        try:
            yield
        except BaseException:
            self.release()
            raise


def claim_relays(settings: Settings, factory: Factory | None = None) -> Claimed:
    """Lock the data directory (a second io process must never touch the pins), then
    open the board: every relay claimed at its released level. ``factory``: the pin
    factory (None: made from ``settings.pins``)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = InstanceLock.acquire(settings.data_dir)
    try:
        started = time.monotonic()
        spec = settings.board_spec()
        if factory is None:
            factory = make_pin_factory(settings.pins, boot_levels=spec.boot_levels())
        return Claimed(lock, Board(spec, factory), started)
    except BaseException:
        lock.release()
        raise
