"""The io process's first act: take the instance lock, then claim the relays at
their safe (released) level, before the heavy imports (SQLAlchemy, the engine, the
rest of the io process) and before the database is opened or checked.

``alarmbridge io`` calls :func:`claim_early` with nothing but the hardware layer
imported: the data directory, pin backend and board come from its arguments and
the environment (``ALARMBRIDGE_*``, as the settings read them), before pydantic is
imported. Once the settings are read, :meth:`Claimed.matches` checks that they name
the same four things (if not, the claim is released and made again from the
settings: they decide). The result goes to :class:`~app.io.process.IoProcess`,
whose :class:`~contextlib.ExitStack` then owns the board and the lock. Until then
the pins are held safe by config.txt and the pulls (docs/wiring.md); this keeps
that interval as short as the interpreter allows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.instance import InstanceLock
from hardware.board import Board
from hardware.boards import BoardSpec, load_spec
from hardware.factory import make_pin_factory

if TYPE_CHECKING:
    from gpiozero import Factory

    from app.settings import Settings

PINS = ("auto", "lgpio", "rpigpio", "mock")  # app.settings.Settings.pins


@dataclass
class Claimed:
    """The instance lock and the board, relays claimed, not yet handed on."""

    lock: InstanceLock
    board: Board
    started_mono: float  # when the claim began (the io process's uptime counts from here)
    made_from: tuple[Path, str, BoardSpec] | None = None  # (data dir, pins, board)

    def matches(self, settings: Settings) -> bool:
        """Whether ``settings`` name the data directory, pins and board claimed."""
        if self.made_from is None:
            return True
        data_dir, pins, spec = self.made_from
        return (
            data_dir.resolve() == settings.data_dir.resolve()
            and pins == settings.pins
            and spec == settings.board_spec()
        )

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


def _given(value: object, name: str, env: Mapping[str, str]) -> str | None:
    """An argument if given, else ``ALARMBRIDGE_<NAME>`` (any case, as the settings
    read the environment)."""
    if value is not None:
        return str(value)
    key = f"ALARMBRIDGE_{name}".lower()
    found = [v for k, v in env.items() if k.lower() == key]
    return found[-1] if found else None


def claim_early(
    data_dir: Path | None,
    pins: str | None,
    board: str | None,
    board_file: Path | None,
    env: Mapping[str, str] | None = None,
) -> Claimed | None:
    """:func:`claim_relays` from the command line's arguments and the environment,
    before the settings are read (their defaults: ./data, auto, the default board).
    None where that is not plain (a pin backend the settings would refuse): the
    settings then decide, and say what is wrong."""
    env = os.environ if env is None else env
    where = Path(_given(data_dir, "DATA_DIR", env) or "data")
    backend = _given(pins, "PINS", env) or "auto"
    name = _given(board, "BOARD", env) or "default"
    custom = _given(board_file, "BOARD_FILE", env)
    if backend not in PINS:
        return None
    where.mkdir(parents=True, exist_ok=True)
    lock = InstanceLock.acquire(where)
    try:
        started = time.monotonic()
        spec = load_spec(name, None if custom is None else Path(custom))
        factory = make_pin_factory(backend, boot_levels=spec.boot_levels())
        return Claimed(lock, Board(spec, factory), started, (where, backend, spec))
    except BaseException:
        lock.release()
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
