"""The engine's loop: a whole tick, and the quick tick after an edge. A base of
:class:`~app.engine.core.Engine`.

:meth:`Ticking.tick` brings everything up to now: the wall clock, the missed-edge
check, arming by schedule, every input's debounce, chatter and stuck checks, the
button, every output and its relay; it returns the next deadline.

:meth:`Ticking.tick_edges` is what the runner calls when the only news is a few
pin edges and nothing else is due yet (``now`` before the deadline the last tick
returned): it settles only the inputs that changed and updates only the outputs
they drive, so the relay path costs the same with 4 channels or 16. Whatever it
does not look at cannot have changed: every input's and output's own deadlines,
the schedules' next change and the next missed-edge check are all in the deadline
it was given, and none of them has come. An edge on the button or on a panel's
armed-state input (which re-arm other inputs), or any edge while an operator's
override, a walk test or virtual inputs are in force, takes a whole tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.clock import Clock
from app.config import InputKind
from app.engine.inputs import MS, InputChannel, S
from app.engine.outputs import OutputChannel
from app.engine.schedules import ScheduleBook
from app.events import Cause, Kind
from hardware import Board

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from app.engine.virtual import VirtualChannel
    from app.engine.walktest import WalkSession
    from app.overrides import OverrideBook

RECONCILE_NS = 1 * S  # re-read every input (and check the wall clock) this often
EDGE_GRACE_NS = 50 * MS  # a pin must differ from the last edge this long to be a missed edge


@dataclass(frozen=True, slots=True)
class Reconfigured:
    """A configuration change being applied: who made it (None: a reload), and
    which outputs (0-based) it gave new settings or a new role."""

    user: str | None
    outputs: set[int]


class Ticking:
    """The engine's loop; the engine sets these attributes and methods."""

    board: Board
    clock: Clock
    running: bool
    inputs: list[InputChannel]
    outputs: list[OutputChannel]
    button: InputChannel | None
    schedules: ScheduleBook
    _by_name: dict[str, InputChannel]
    _energised: list[bool | None]
    _next_reconcile: int
    _utc: int
    _after_step: bool
    _event: Callable[..., None]
    _held: list[tuple[Kind, str, Cause, dict[str, Any]]] | None
    _check_wall_clock: Callable[[int], None]
    _reconcile: Callable[[int], bool]
    _rearm: Callable[..., None]
    _input_settled: Callable[[InputChannel, int], None]
    _button_settled: Callable[[InputChannel, int], None]
    _check_chatter: Callable[[InputChannel, int], None]
    _is_healthy: Callable[[OutputChannel], bool]
    _linked: Callable[[InputChannel], Iterable[OutputChannel]]
    set_fault: Callable[..., None]
    overrides: OverrideBook
    walk: WalkSession | None
    virtual: list[VirtualChannel]
    _tick_virtual: Callable[[int], None]
    _virtual_deadlines: Callable[[], list[int]]

    @contextmanager
    def _holding_events(self) -> Iterator[None]:
        """Hold the events a tick logs until its end, then stamp and emit them in
        order: the relays switch first, and the writer thread (which an emitted event
        wakes) does not compete with the engine thread until they have. (An input's
        event carries its edge's monotonic time; the wall-clock stamps move by the
        microseconds the tick took.)"""
        if self._held is not None:  # a tick within a tick: the outer one emits
            yield
            return
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            for kind, state, cause, kw in held:
                self._event(kind, state, cause, **kw)

    def tick(self, now: int | None = None) -> int | None:
        """Process everything due by ``now``; return the next deadline (monotonic ns)."""
        with self._holding_events():
            return self._tick(now)

    def _tick(self, now: int | None) -> int | None:
        if not self.running:
            return None
        now = self.clock.monotonic_ns() if now is None else now
        self._utc = self.clock.utc_us()
        self._check_wall_clock(now)
        if now >= self._next_reconcile:
            watching = self._reconcile(now)
            self._next_reconcile = now + (EDGE_GRACE_NS if watching else RECONCILE_NS)
        self._rearm(now, Cause.SCHEDULE, None)
        self._tick_virtual(now)
        for ch in self.inputs:
            self._step_input(ch, now)
        if self.button is not None and self.button.settle(now):
            self._button_settled(self.button, now)
        self._update_outputs(now)
        self._after_step = False
        return self._next_deadline(now)

    def tick_edges(
        self, names: Iterable[str], due: int | None, now: int | None = None
    ) -> int | None:
        """After edges on the inputs ``names`` only: settle those, update the outputs
        they drive, and return the next deadline. ``due``: the deadline the last tick
        returned; at or after it (or for the button, an armed-state input, a name not
        known) this is a whole :meth:`tick`."""
        with self._holding_events():
            return self._tick_edges(names, due, now)

    def _tick_edges(self, names: Iterable[str], due: int | None, now: int | None) -> int | None:
        if not self.running:
            return None
        now = self.clock.monotonic_ns() if now is None else now
        channels = [self._by_name.get(name) for name in set(names)]
        if (
            due is None
            or now >= due
            or not all(self._quick(ch) for ch in channels)
            or self._overridden()
        ):
            return self.tick(now)
        self._utc = self.clock.utc_us()
        touched: dict[int, OutputChannel] = {}
        deadlines = [due]
        for ch in channels:
            assert ch is not None
            self._step_input(ch, now)
            touched.update((id(out), out) for out in self._linked(ch))
            deadlines += [
                t for t in (ch.deadline(), ch.chatter_deadline(), ch.stuck_deadline()) if t
            ]
        outputs = set(touched)
        self._update_outputs(now, only=outputs)
        deadlines += [t for t in (o.deadline(now) for o in touched.values()) if t]
        return min(deadlines)

    def _overridden(self) -> bool:
        """An operator's override (a bypass, the arming), a walk test in progress or
        virtual inputs configured: their times and rules are the whole tick's to
        apply, so edges take it."""
        overrides = self.overrides
        return (
            bool(overrides.bypass)
            or overrides.arming is not None
            or self.walk is not None
            or bool(self.virtual)
        )

    @staticmethod
    def _quick(ch: InputChannel | None) -> bool:
        """Whether an edge on ``ch`` may take the quick tick."""
        return ch is not None and ch.cfg.kind is not InputKind.ARMED_STATE

    def _step_input(self, ch: InputChannel, now: int) -> None:
        """One input brought up to ``now``: debounce, chatter, stuck."""
        if ch.settle(now):
            self._input_settled(ch, now)
        if ch.chattering:
            self._check_chatter(ch, now)
        stuck = ch.check_stuck(now)
        if stuck is not None:
            self.set_fault(
                f"{ch.name}:stuck",
                stuck,
                f"{ch.name} has been in alarm for over {ch.cfg.stuck_after_s} s"
                if stuck
                else f"{ch.name} left alarm",
            )

    def _update_outputs(
        self, now: int, reconfigured: Reconfigured | None = None, only: set[int] | None = None
    ) -> None:
        """Bring every output (or those whose ``id`` is in ``only``) and its relay up
        to ``now``; log each change of state.

        Right after a configuration change (``reconfigured``) the change is the
        cause of what happens here, and an output whose settings changed is logged
        when its relay flips even if its state did not (valid signal close/open,
        the healthy relay). The output keeps its own cause and source (what keeps
        it active) for the status and for the row that ends it.
        """
        for n, out in enumerate(self.outputs):
            if only is not None and id(out) not in only:
                continue
            schedule = out.cfg.schedule
            scheduled = self.schedules.is_active(schedule, self._utc)
            if scheduled and not out.scheduled:
                out.mark(Cause.SCHEDULE, schedule)
            out.scheduled = scheduled
            changed = out.update(now)
            energised = True if self._is_healthy(out) else out.energised
            flipped = energised != self._energised[n]
            if flipped:
                self.board.relays[n].set(energised)
                self._energised[n] = energised
            cause, source = out.cause, out.source
            if reconfigured is not None:
                cause, source = Cause.CONFIG, reconfigured.user
                changed = changed or (flipped and n in reconfigured.outputs)
            if changed:
                detail: dict[str, Any] = {"relay": "energised" if energised else "released"}
                if not out.active and out.cfg.mode == "pulse":
                    detail["pulses"] = out.pulses
                if self._after_step:
                    detail["clock_step"] = True
                self._event(
                    Kind.OUTPUT,
                    "active" if out.active else "idle",
                    cause,
                    channel=out.name,
                    dvr_channel=out.cfg.dvr_channel or None,
                    source=source,
                    detail=detail,
                )

    def _next_deadline(self, now: int) -> int:
        times = [self._next_reconcile]
        for ch in [*self.inputs, *([self.button] if self.button else [])]:
            times += _input_deadlines(ch)
        times += [t for t in (o.deadline(now) for o in self.outputs) if t]
        times += self._virtual_deadlines()
        change = self.schedules.next_change(self._schedules_in_use(), self._utc)
        if change is not None:
            times.append(now + (change - self._utc) * 1000)
        return min(times)

    def _schedules_in_use(self) -> set[str | None]:
        used: set[str | None] = {o.cfg.schedule for o in self.outputs}
        used.update(ch.cfg.schedule for ch in self.inputs if ch.armed is not None)
        return used


def _input_deadlines(ch: InputChannel) -> list[int]:
    return [t for t in (ch.deadline(), ch.chatter_deadline(), ch.stuck_deadline()) if t]
