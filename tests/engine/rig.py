"""A test rig: the real engine on a real Board with simulated pins and a manual clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import ManualClock
from app.config import Config, default_config
from app.engine.core import Engine
from app.events import EventStamper, Kind, NewEvent
from hardware import Board, ContactChange, SimulatedBoard, SimulatedPinFactory, preset


class Rig:
    def __init__(
        self,
        edit: Callable[[Config], Any] | None = None,
        *,
        board: str = "default",
        latched: tuple[str, ...] = (),
        before_start: Callable[[SimulatedBoard], Any] | None = None,
        tz: str = "UTC",
        utc_us: int | None = None,
        overrides: Any = None,
    ) -> None:
        spec = preset(board)
        self.factory = SimulatedPinFactory(boot_levels=spec.boot_levels())
        self.board = Board(spec, self.factory)
        self.sim = SimulatedBoard(self.board)
        self.clock = ManualClock() if utc_us is None else ManualClock(utc_us=utc_us)
        self.config = default_config(spec)
        if edit is not None:
            edit(self.config)
        self.config = Config.model_validate(self.config.model_dump())
        self.events: list[NewEvent] = []
        self.engine = Engine(
            self.board,
            self.config,
            stamper=EventStamper("test-boot", self.clock),
            emit=self.events.append,
            clock=self.clock,
            tz=ZoneInfo(tz),
        )
        self.board.set_input_handler(self._feed)
        if self.board.button is not None:
            self.board.button.handler = self._feed
        if before_start is not None:
            before_start(self.sim)
        if overrides is not None:  # stored by an earlier run (app/overrides.py)
            self.engine.restore_overrides(overrides)
        self.engine.start(latched)

    def _feed(self, change: ContactChange) -> None:
        # The hardware stamps real monotonic time; the rig's clock is manual.
        self.engine.contact_changed(dataclasses.replace(change, t_ns=self.clock.monotonic_ns()))

    def run_ms(self, ms: float) -> None:
        """Advance the clock by ``ms``, processing every deadline on the way."""
        target = self.clock.monotonic_ns() + round(ms * 1e6)
        while True:
            deadline = self.engine.tick()
            now = self.clock.monotonic_ns()
            if deadline is None or deadline > target:
                break
            self.clock.advance(max(deadline - now, 1) / 1e9)
        self.clock.advance((target - self.clock.monotonic_ns()) / 1e9)
        self.engine.tick()

    def close(self, n: int) -> None:
        self.sim.close_contact(n)
        self.engine.tick()

    def open(self, n: int) -> None:
        self.sim.open_contact(n)
        self.engine.tick()

    @property
    def relays(self) -> list[bool]:
        return self.board.relay_states()

    def of_kind(self, kind: Kind) -> list[NewEvent]:
        return [e for e in self.events if e.kind is kind]

    def states(self, kind: Kind, channel: str | None = None) -> list[str]:
        return [e.state for e in self.of_kind(kind) if channel is None or e.channel == channel]

    def shutdown(self) -> None:
        self.engine.stop()
        self.board.close()
        self.factory.reset()
