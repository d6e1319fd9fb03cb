"""The engine: from debounced inputs to relay actions, and the events that record them.

Single-threaded by design: :class:`~app.engine.runner.EngineRunner` (or a test)
calls every method from one thread. Relays switch here, before any event is
written; events leave through ``emit``, which must never block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, tzinfo
from typing import Any

from app.clock import Clock
from app.config import Config, InputConfig, InputKind
from app.engine.inputs import InputChannel
from app.engine.outputs import OutputChannel
from app.engine.overrides import Overrides
from app.engine.schedules import ScheduleBook
from app.engine.ticking import EDGE_GRACE_NS, Reconfigured, Ticking
from app.engine.virtual import VirtualChannel, VirtualInputs
from app.engine.walktest import WalkTests
from app.engine.wallclock import WallClockWatch
from app.events import Cause, EventStamper, Kind, NewEvent
from app.overrides import OverrideBook
from app.schedules.calendar import DAY_US
from app.timefmt import utc_iso
from hardware import Board, ContactChange

STEP_DETAIL_MAX_US = 7 * DAY_US  # longer steps do not list the schedule changes they cross
BUTTON = InputConfig(name="button", response_ms=50, stuck_after_s=0)


def _check_fits(config: Config, board: Board) -> None:
    problems = config.fits(board.spec)
    if problems:
        raise ValueError("the configuration does not fit the board: " + "; ".join(problems))


class Engine(Ticking, Overrides, WalkTests, VirtualInputs):
    """Owns the logic of one board. ``emit`` receives every event, in order."""

    def __init__(
        self,
        board: Board,
        config: Config,
        *,
        stamper: EventStamper,
        emit: Callable[[NewEvent], None],
        clock: Clock,
        tz: tzinfo = UTC,
        on_latches: Callable[[list[str]], None] | None = None,
    ) -> None:
        _check_fits(config, board)
        self.board = board
        self.config = config
        self.stamper = stamper
        self.emit = emit
        self.clock = clock
        self.tz = tz
        self.schedules = ScheduleBook(config.schedules, tz)
        self.on_latches = on_latches
        self.inputs: list[InputChannel] = []  # the wired ones, then the virtual ones
        self.virtual: list[VirtualChannel] = []
        self._mono = clock.monotonic_ns
        self.outputs = [OutputChannel(o.name, o) for o in config.outputs]
        self.button: InputChannel | None = None
        self.faults: dict[str, dict[str, Any]] = {}
        self._energised: list[bool | None] = [None] * len(self.outputs)
        self._by_name: dict[str, InputChannel] = {}
        self._next_reconcile = 0
        self._differs: dict[InputChannel, int] = {}  # input -> since when its pin differs
        self.panel_armed = False
        self.overrides = OverrideBook()  # an operator's bypasses and arming override
        self.running = False
        self._utc = clock.utc_us()  # the wall clock as of this tick: one answer per tick
        self._wall = WallClockWatch()
        self._after_step = False
        # simulated pins: who changed a contact or pressed the button, until it is logged
        self.simulated_by: dict[str, str] = {}

    # -- events ---------------------------------------------------------------

    def set_fault(
        self, key: str, active: bool, message: str, *, logged: bool = True, **detail: Any
    ) -> None:
        """Raise or clear a fault (listed in status; logged once per change, here
        unless ``logged`` is False: its source logs it)."""
        if active == (key in self.faults):
            return
        channel, _, code = key.partition(":")
        info = {"code": code or key, "message": message, **detail}
        if active:
            self.faults[key] = info
        else:
            del self.faults[key]
        if logged:
            self._event(
                Kind.FAULT,
                "raised" if active else "cleared",
                Cause.SYSTEM,
                channel=channel,
                detail=info,
            )

    # -- lifecycle ------------------------------------------------------------

    def start(self, latched: Iterable[str] = ()) -> None:
        """Read every input, recompute every output from the wire, the schedules and
        the persisted manual latches, and log the result."""
        now = self.clock.monotonic_ns()
        wired = [
            InputChannel(cfg.name, cfg, closed=dev.closed, now=now)
            for cfg, dev in zip(self.config.inputs, self.board.inputs, strict=True)
        ]
        self._by_name = {dev.name: ch for dev, ch in zip(self.board.inputs, wired, strict=True)}
        self.virtual = self._make_virtual(now)  # normal until signalled
        self.inputs = [*wired, *self.virtual]
        if self.board.button is not None:
            self.button = InputChannel("button", BUTTON, closed=self.board.button.closed, now=now)
        self._utc = self.clock.utc_us()
        self._update_panel(now)
        for ch in self.inputs:
            ch.armed = self._arming_of(ch)
        for ch in self.inputs:
            if ch.alarm and self._acts(ch):
                for out in self._linked(ch):
                    out.trigger(ch.name, Cause.RESTART, now)
        names = set(latched)
        for out in self.outputs:
            if out.name in names:
                out.manual_start(None, Cause.RESTART, "manual latch", now)
        self.running = True
        self._event(
            Kind.SYSTEM,
            "started",
            Cause.SYSTEM,
            detail={"board": self.board.spec.name, "simulated": self.board.simulated},
        )
        self.tick(now)
        self._event(
            Kind.SYSTEM,
            "recomputed",
            Cause.RESTART,
            detail={
                "inputs": {ch.name: "alarm" if ch.alarm else "normal" for ch in self.inputs},
                "outputs": {o.name: "active" if o.active else "idle" for o in self.outputs},
                "armed": {ch.name: ch.armed for ch in self.inputs if ch.armed is not None},
                "latched": sorted(names),
            },
        )

    def stop(self, reason: str = "stopped") -> None:
        """Every relay to its safe state (released), then a final event."""
        self.running = False
        self.board.all_relays_off()
        self._energised = [False] * len(self.outputs)
        self._event(
            Kind.SYSTEM, "stopped", Cause.SYSTEM, detail={"reason": reason, "relays": "safe"}
        )

    # -- inputs ---------------------------------------------------------------

    def contact_changed(self, change: ContactChange) -> None:
        """A raw change from the hardware (via the runner's queue)."""
        ch = self.button if change.name == "button" else self._by_name.get(change.name)
        if ch is None or not self.running:
            return
        ch.edge(change.closed, change.t_ns)
        if ch is not self.button:
            self._check_chatter(ch, change.t_ns)

    def _check_chatter(self, ch: InputChannel, now: int) -> None:
        started = ch.check_chatter(now)
        if started is True:
            self.set_fault(
                f"{ch.name}:chatter",
                True,
                f"{ch.name} is chattering: its log rows are rate-limited until it calms down",
                changes=ch.cfg.chatter_changes,
                window_s=ch.cfg.chatter_window_s,
            )
        elif started is False:
            self.set_fault(
                f"{ch.name}:chatter",
                False,
                f"{ch.name} is calm again",
                unlogged_changes=ch.unlogged,
            )
            if ch.unlogged and ch.cfg.enabled:  # where it settled was not logged: log it now
                self._log_input(ch, self._acts(ch), after_chatter=True)
            ch.unlogged = 0

    def _reconcile(self, now: int) -> bool:
        """Re-read every input. A pin that differs from the last edge is a missed edge
        if it still differs ``EDGE_GRACE_NS`` later: until then its edge's callback
        may be on its way. True while such a pin is being watched."""
        for ch, dev in zip(self.inputs[: len(self.board.inputs)], self.board.inputs, strict=True):
            closed = dev.closed
            if closed == ch.raw:
                self._differs.pop(ch, None)
                continue
            since = self._differs.setdefault(ch, now)
            if now - since < EDGE_GRACE_NS:
                continue
            del self._differs[ch]
            ch.edge(closed, since)
            self._event(
                Kind.SYSTEM,
                "missed-edge",
                Cause.SYSTEM,
                channel=ch.name,
                detail={"contact": "closed" if closed else "open"},
            )
        if self.button is not None and self.board.button is not None:
            self.button.edge(self.board.button.closed, now)
        return bool(self._differs)

    def _log_input(
        self,
        ch: InputChannel,
        acts: bool,
        *,
        cause: Cause = Cause.INPUT,
        source: str | None = None,
        **detail: Any,
    ) -> None:
        """Log the state ``ch`` settled in, dated when its contact got there (or,
        put there by a configuration change, dated now)."""
        state = self._input_state(ch)
        if cause is Cause.INPUT and ch.name in self.simulated_by:
            source = f"{self.simulated_by.pop(ch.name)} (simulated)"
        if state == "alarm" and self._bypassed(ch):
            state = "alarm-bypassed"
        elif state == "alarm" and ch.cfg.kind is InputKind.ALARM and ch.cfg.enabled and not acts:
            state = "alarm-not-armed"
        if isinstance(ch, VirtualChannel):  # no contact: who signalled it
            self._event(
                Kind.INPUT,
                state,
                cause,
                channel=ch.name,
                source=source if cause is not Cause.INPUT else ch.source,
                detail={"virtual": ch.label, "kind": str(ch.cfg.kind), **detail},
            )
            return
        self._event(
            Kind.INPUT,
            state,
            cause,
            channel=ch.name,
            source=source,
            mono_ns=ch.raw_since if cause is Cause.INPUT else None,
            detail={
                "contact": "closed" if ch.stable else "open",
                "contact_type": str(ch.cfg.contact),
                "kind": str(ch.cfg.kind),
                **detail,
            },
        )

    @staticmethod
    def _input_state(ch: InputChannel) -> str:
        """What its contact means now, arming aside (arming is logged on its own)."""
        if ch.cfg.kind is InputKind.ARMED_STATE:
            return "armed" if ch.alarm else "disarmed"
        return "alarm" if ch.alarm else "normal"

    def _input_settled(self, ch: InputChannel, now: int) -> None:
        acts = self._acts(ch)
        kind = ch.cfg.kind
        if ch.cfg.enabled and ch.chattering:
            ch.unlogged += 1
        elif ch.cfg.enabled:
            self._log_input(ch, acts)
        if kind is InputKind.ARMED_STATE:
            self._update_panel(now, ch.name)
            return
        for out in self._linked(ch):
            if ch.alarm and acts:
                out.trigger(ch.name, Cause.INPUT, now)
            elif not ch.alarm:
                self._release(out, ch.name, now)

    def _button_settled(self, ch: InputChannel, now: int) -> None:
        if not ch.stable:
            return
        cfg = self.config.button
        presser = self.simulated_by.pop("button", None)
        source = "button" if presser is None else f"{presser} (simulated)"
        if cfg.action == "none":
            self._event(
                Kind.OPERATOR,
                "button-pressed",
                Cause.BUTTON,
                source=source,
                detail={"action": "none"},
            )
            return
        self._manual_trigger(Cause.BUTTON, source, now)

    def _manual_trigger(self, cause: Cause, source: str, now: int) -> None:
        cfg = self.config.button
        targets = self._button_targets()
        self._event(
            Kind.OPERATOR,
            "manual-trigger",
            cause,
            source=source,
            detail={"outputs": [o.name for o in targets], "duration_ms": cfg.duration_ms},
        )
        for out in targets:
            out.manual_start(cfg.duration_ms, cause, source, now)

    def _button_targets(self) -> list[OutputChannel]:
        chosen = self.config.button.outputs
        if chosen is None:
            return [o for o in self.outputs if o.cfg.dvr_channel and not self._is_healthy(o)]
        return [self.outputs[n - 1] for n in chosen]

    def _is_healthy(self, out: OutputChannel) -> bool:
        healthy = self.config.healthy_output
        return healthy is not None and self.outputs[healthy - 1] is out

    # -- the wall clock -------------------------------------------------------

    def _check_wall_clock(self, now: int) -> None:
        """Notice a step of the wall clock (NTP sync after boot, a manual change):
        log it with the old and new time, then let this tick re-evaluate every
        schedule once at the new time."""
        old = self._wall.check(now, self._utc)
        if old is None:
            return
        new = self._utc
        detail: dict[str, Any] = {
            "old": utc_iso(old),
            "new": utc_iso(new),
            "step_s": round((new - old) / 1e6, 3),
        }
        if abs(new - old) <= STEP_DETAIL_MAX_US:
            used = self._schedules_in_use()
            crossed = self.schedules.changes_between(used, min(old, new), max(old, new))
            if crossed:
                detail["skipped" if new > old else "replayed"] = crossed
        self._event(Kind.SYSTEM, "clock-step", Cause.SYSTEM, detail=detail)
        self._after_step = True

    # -- operator commands ----------------------------------------------------

    def _output(self, n: int) -> OutputChannel:
        if not 1 <= n <= len(self.outputs):
            raise ValueError(f"there is no output {n}: outputs are 1 to {len(self.outputs)}")
        out = self.outputs[n - 1]
        if self._is_healthy(out):
            raise ValueError(f"output {n} is the healthy relay: it cannot be started or stopped")
        return out

    def manual_start(
        self, n: int, duration_ms: int | None, user: str, cause: Cause = Cause.USER
    ) -> None:
        out = self._output(n)
        now = self.clock.monotonic_ns()
        self._event(
            Kind.OPERATOR,
            "manual-start",
            cause,
            channel=out.name,
            source=user,
            dvr_channel=out.cfg.dvr_channel or None,
            detail={"duration_ms": duration_ms},
        )
        out.manual_start(duration_ms, cause, user, now)
        self._latches_changed()
        self.tick(now)

    def manual_stop(self, n: int, user: str) -> bool:
        """Stop output ``n`` (see :meth:`OutputChannel.manual_stop`). An output that
        is idle, with nothing waiting to start it, has nothing to stop: that is a
        no-op, not logged. True if it stopped something."""
        out = self._output(n)
        now = self.clock.monotonic_ns()
        if not out.active and not out.wanted(now):
            return False
        self._event(
            Kind.OPERATOR,
            "manual-stop",
            Cause.USER,
            channel=out.name,
            source=user,
            dvr_channel=out.cfg.dvr_channel or None,
        )
        out.cause, out.source = Cause.USER, user
        out.manual_stop()
        self._latches_changed()
        self.tick(now)
        return True

    def trigger(self, user: str) -> None:
        """The manual trigger (as the physical button does), asked by an operator."""
        now = self.clock.monotonic_ns()
        self._manual_trigger(Cause.USER, user, now)
        self.tick(now)

    def latched(self) -> list[str]:
        return [o.name for o in self.outputs if o.latched]

    def _latches_changed(self) -> None:
        if self.on_latches is not None:
            self.on_latches(self.latched())

    def apply_config(self, config: Config, user: str | None = None) -> bool:
        """Apply a new configuration without a restart, keeping every state that
        still makes sense (debounce in progress, active outputs, manual starts).

        What was due before it happens first. Then the change is logged: a
        ``config`` event by ``user`` with the old and new values, or (``user``
        None: re-read from the database) ``config-reloaded``. Then what it did,
        with cause ``config`` and ``user`` as the source: each enabled input whose
        contact now means something else, with its new state; each arming change
        (with cause ``schedule`` and its name where the schedule decides); each
        output whose state, or relay, changed.

        The running configuration again changes nothing and logs nothing: False.
        """
        _check_fits(config, self.board)
        if config == self.config:
            return False
        now = self.clock.monotonic_ns()
        self.tick(now)  # what was due is not the change's doing
        old = self.config
        if user is None:
            self._event(Kind.SYSTEM, "config-reloaded", Cause.SYSTEM)
        else:
            self._event(
                Kind.CONFIG,
                "changed",
                Cause.USER,
                source=user,
                detail={"old": old.model_dump(mode="json"), "new": config.model_dump(mode="json")},
            )
        shown = {ch: self._input_state(ch) if ch.cfg.enabled else None for ch in self.inputs}
        roles = [self._is_healthy(out) for out in self.outputs]
        self.config = config
        wired = self.inputs[: len(self.board.inputs)]
        for ch, cfg in zip(wired, config.inputs, strict=True):
            ch.reconfigure(cfg, now)
        self._reconfigure_virtual(config, now)
        self.inputs = [*wired, *self.virtual]
        for out, ocfg in zip(self.outputs, config.outputs, strict=True):
            out.reconfigure(ocfg)
            out.sources.clear()
        self.schedules = ScheduleBook(config.schedules, self.tz)
        self._utc = self.clock.utc_us()
        self._update_panel(now)
        for ch in self.inputs:
            if ch.cfg.enabled and self._input_state(ch) != shown.get(ch, "normal"):
                self._log_input(ch, self._acts(ch), cause=Cause.CONFIG, source=user)
        self._rearm(now, Cause.CONFIG, user, drive=False)
        for ch in self.inputs:
            if ch.alarm and self._acts(ch):
                for out in self._linked(ch):
                    out.mark(Cause.INPUT, ch.name)  # an output it now starts names it
                    out.sources.add(ch.name)
        touched = {
            n
            for n, (out, before, healthy) in enumerate(
                zip(self.outputs, old.outputs, roles, strict=True)
            )
            if out.cfg != before or self._is_healthy(out) != healthy
        }
        if self.running:
            self._update_outputs(now, Reconfigured(user, touched))
        self.tick(now)  # what follows from it with causes of its own (a fault cleared)
        return True

    # -- status ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = self.clock.monotonic_ns()
        return {
            "running": self.running,
            "panel_armed": self.panel_armed,
            "inputs": [
                ch.status()
                | {
                    "armed": self._armed(ch) if ch.cfg.kind is InputKind.ALARM else None,
                    "acts": self._acts(ch),
                }
                for ch in self.inputs
                if not isinstance(ch, VirtualChannel)
            ],
            "virtual_inputs": self._virtual_status(),
            "outputs": [
                o.status(now)
                | {"energised": bool(self._energised[n]), "healthy_relay": self._is_healthy(o)}
                for n, o in enumerate(self.outputs)
            ],
            "faults": [{"key": k, **v} for k, v in self.faults.items()],
        }
