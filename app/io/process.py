"""The io process: owns the board, the engine and the event writer.

Start-up order matters: the relays are claimed at their safe level before
anything else (database checks, migrations) can take time or fail.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from gpiozero import Factory

from app import __version__
from app.clock import Clock, SystemClock
from app.config import default_config
from app.engine import Engine, EngineRunner
from app.engine.runner import CommandExpiredError
from app.eventlog.database import (
    ALTERED_FAULT_KEY,
    active_faults,
    clear_persistent_fault,
    immediate,
    set_persistent_fault,
)
from app.eventlog.retention import RetentionPolicy
from app.eventlog.startup import prepare_database
from app.eventlog.writer import EventWriter
from app.events import Cause, Event, EventStamper, Kind
from app.io.annotate import Annotations
from app.io.audit import Refusals, command_refused_event, sia_refused_event
from app.io.chaincheck import ChainCheck
from app.io.claim import Claimed, claim_relays
from app.io.commands import (
    Annotate,
    BypassInput,
    Changed,
    ClearFault,
    Command,
    EndArmingOverride,
    EndBypass,
    GetBoard,
    GetConfig,
    GetStatus,
    NetworkFault,
    OverrideArming,
    Reload,
    SecurityEvent,
    SetConfig,
    SiaRefused,
    Signal,
    Simulate,
    StartOutput,
    StopOutput,
    Trigger,
    WalkTestConfirm,
    WalkTestEnd,
    WalkTestPulse,
    WalkTestStart,
)
from app.io.control import DEADLINE, CommandError, ControlServer, EventHub, Handler
from app.io.notify import Notifier
from app.io.overrides import OverrideStore
from app.io.peer import peer_rules
from app.settings import Settings
from app.store import (
    load_config,
    load_latches,
    load_startup_config,
    save_config,
)
from hardware import LedPattern, SimulatedBoard

log = logging.getLogger(__name__)
CONFIG_FAULT = "config:config-invalid"


def boot_id() -> str:
    """The kernel's id of this boot (a random one where there is none)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(uuid.uuid4())


@dataclass
class IoProcess:
    """Everything the io process runs, started by :meth:`start`, stopped by :meth:`stop`."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    on_event: Callable[[dict[str, Any]], None] | None = None
    notifier: Notifier = field(default_factory=Notifier)
    pin_factory: Factory | None = None  # None: made from settings.pins
    claimed: Claimed | None = None  # the lock and board, if claimed already (alarmbridge io)
    _stop_reason: str = field(default="stopped", init=False, repr=False)

    def start(self) -> None:
        """Start everything, in an order that makes the relays safe first. If a step
        fails, what was started is stopped again (the board closed: its relays go
        to their released level), and the error is raised."""
        with ExitStack() as stack:
            self._start(stack)
            self._stack: ExitStack | None = stack.pop_all()

    def _start(self, stack: ExitStack) -> None:
        settings = self.settings
        claimed, self.claimed = self.claimed, None  # the stack owns them from here
        if claimed is None:  # the lock before any pin, the relays safe before all else
            claimed = claim_relays(settings, self.pin_factory)
        stack.callback(claimed.lock.release)
        stack.callback(self.notifier.close)
        self.started_mono = claimed.started_mono
        self.board = claimed.board
        stack.callback(self.board.close)
        self.sim = SimulatedBoard(self.board) if self.board.simulated else None
        spec = self.board.spec
        self.stamper = EventStamper(boot_id(), self.clock)
        prepared = prepare_database(settings.db_path, stamper=self.stamper)
        self.db = prepared.engine
        stack.callback(self.db.dispose)
        rejected = settings.db_path.with_name(settings.db_path.name + ".config-rejected")
        startup = load_startup_config(self.db, spec, rejected)
        config = startup.config or default_config(spec)
        if startup.config is None and startup.problem is None:  # a fresh appliance
            save_config(self.db, config, self.clock.utc_us())
        if startup.problem is not None:
            log.error("%s", startup.message(rejected))
        self.hub = EventHub()
        self._early: list[Callable[[], None]] = []
        retention = RetentionPolicy(
            keep_events=settings.retain_events,
            keep_days=settings.retain_days,
            max_events=settings.max_events,
        )
        self.writer = EventWriter(
            prepared,  # its startup events (recovery, migration) are already committed
            stamper=self.stamper,
            on_commit=self._committed,
            on_fault=self._writer_fault,
            retention=retention,
        )
        self.writer.start()
        stack.callback(self.writer.stop)
        stack.callback(self._stop_control)  # after the relays are safe (below)
        self.engine = Engine(
            self.board,
            config,
            stamper=self.stamper,
            emit=self.writer.submit,
            clock=self.clock,
            tz=settings.tz,
        )
        self.runner = EngineRunner(self.engine, heartbeat=self._heartbeat)
        self.overrides = OverrideStore(self.db, self.engine, self.runner)  # before start
        stack.callback(self.overrides.close)
        self.runner.start(load_latches(self.db))
        stack.callback(lambda: self.runner.stop(self._stop_reason))
        faults = prepared.faults
        self.runner.call(lambda: self._raise_persistent(faults))
        if startup.problem is not None:
            message = startup.message(rejected)
            self.runner.call(lambda: self.engine.set_fault(CONFIG_FAULT, True, message))
        for apply in self._early:
            self.runner.post(apply)
        self._show_led()
        rules = peer_rules(settings.web_state_dir, settings.network_state_dir)  # peer.py
        refusals = Refusals(lambda *a: self.writer.submit(command_refused_event(self.stamper, *a)))
        self.control = ControlServer(
            settings.socket_path, self._handlers(), self.hub, rules, self._expired, refusals.refused
        )
        self.control.start()
        self.notifier.ready(f"{len(self.board.inputs)} inputs, {len(self.board.relays)} relays")
        check = ChainCheck(  # in a process of its own: off this one's CPU
            settings.data_dir, self._chain_broken, delay_s=settings.log_check_delay_s
        )
        check.start()
        stack.callback(check.stop)

    def _stop_control(self) -> None:
        control: ControlServer | None = getattr(self, "control", None)
        if control is not None:
            control.stop()

    @property
    def started(self) -> bool:
        """Whether :meth:`start` succeeded and :meth:`stop` has not run yet."""
        return getattr(self, "_stack", None) is not None

    def stop(self, reason: str = "stopped") -> None:
        """Relays to their safe state and a final event, then everything closes
        (in the reverse order of :meth:`start`): the control socket, the writer,
        the board, the database, the notifier, the instance lock."""
        stack, self._stack = getattr(self, "_stack", None), None
        if stack is None:
            return
        self.notifier.stopping()
        self._stop_reason = reason
        stack.close()

    # -- plumbing -------------------------------------------------------------

    def _heartbeat(self) -> None:  # on the engine thread, every loop turn
        self.notifier.watchdog()
        self._show_led()

    def _chain_broken(self, said: str) -> None:
        """The start-up chain check found the log changed (on its thread)."""
        message = f"The event log was changed: {said}. 'alarmbridge events verify' says more."
        detail = {"code": "eventlog-altered", "message": message}
        with immediate(self.db) as connection:
            set_persistent_fault(connection, ALTERED_FAULT_KEY, detail)
        self.runner.post(lambda: self.engine.set_fault("eventlog:eventlog-altered", True, message))

    def _raise_persistent(self, faults: tuple[Any, ...]) -> None:
        for fault in faults:
            message = str(fault.detail.get("message") or fault.detail)
            self.engine.set_fault(f"eventlog:{fault.code}", True, message)

    def _committed(self, events: Sequence[Event]) -> None:
        messages = [e.to_json() for e in events]
        self.hub.publish(messages)
        if self.on_event is not None:
            for message in messages:
                self.on_event(message)

    def _writer_fault(self, code: str, active: bool, message: str) -> None:
        def apply() -> None:  # for status and the LED: the writer logs it, in order
            self.engine.set_fault(f"eventlog:{code}", active, message, logged=False)

        runner = getattr(self, "runner", None)
        if runner is None:  # before the engine runs: apply once it does
            self._early.append(apply)
        else:
            runner.post(apply)

    def _show_led(self) -> None:
        led = self.board.led
        if led is None:
            return
        if self.engine.faults:
            led.show(LedPattern.FAULT)
        else:
            led.show(LedPattern.SIMULATION if self.board.simulated else LedPattern.OK)

    def _act(self, fn: Callable[[], Any]) -> Any:
        """Run an action on the engine thread, only before the command's deadline."""
        return self.runner.call(fn, deadline_ns=DEADLINE.get())

    def _check_deadline(self) -> None:
        """For an action that is not one engine call: refuse it now if it is late."""
        deadline = DEADLINE.get()
        if deadline is not None and (late := time.monotonic_ns() - deadline) > 0:
            raise CommandExpiredError(late // 1_000_000)

    def _expired(self, command: Command[Any], exc: CommandExpiredError) -> None:
        user: str | None = getattr(command, "user", None)
        cmd = command.cmd
        log.warning("command %r not done: %s", cmd, exc)
        self.writer.submit(
            self.stamper.make(
                Kind.SYSTEM,
                "command-expired",
                Cause.USER if user else Cause.SYSTEM,
                source=(user or "")[:64] or None,
                detail={"command": cmd[:40], "late_ms": exc.late_ms},
            )
        )

    def _handlers(self) -> dict[str, Handler]:
        """Each command's handler, by name (app/io/commands.py): it gets the typed
        command, already validated by the control server."""
        return {
            GetStatus.cmd: lambda _: self.status(),
            StartOutput.cmd: self._start_output,
            StopOutput.cmd: self._stop_output,
            Trigger.cmd: self._trigger,
            Simulate.cmd: self._simulate,
            Signal.cmd: self._signal,
            GetConfig.cmd: lambda _: self.engine.config.model_dump(mode="json"),
            SetConfig.cmd: self._set_config,
            Reload.cmd: lambda _: self._reload(),
            GetBoard.cmd: lambda _: self._board(),
            SecurityEvent.cmd: self._security,
            ClearFault.cmd: self._clear_fault,
            BypassInput.cmd: lambda c: self._override(
                lambda: self.engine.bypass_input(c.input, c.duration_s, c.user, c.reason)
            ),
            EndBypass.cmd: lambda c: Changed(
                changed=self._override(lambda: self.engine.end_bypass(c.input, c.user))
            ),
            OverrideArming.cmd: lambda c: self._override(
                lambda: self.engine.override_arming(c.armed, c.duration_s, c.user)
            ),
            EndArmingOverride.cmd: lambda c: Changed(
                changed=self._override(lambda: self.engine.end_arming_override(c.user))
            ),
            WalkTestStart.cmd: lambda c: self._act(lambda: self.engine.start_walk_test(c.user)),
            WalkTestPulse.cmd: lambda c: self._act(
                lambda: self.engine.walk_pulse(c.output, c.user)
            ),
            WalkTestConfirm.cmd: lambda c: self._act(
                lambda: self.engine.walk_confirm(c.output, c.marked, c.user, c.note)
            ),
            WalkTestEnd.cmd: self._end_walk_test,
            NetworkFault.cmd: self._network_fault,
            Annotate.cmd: Annotations(self.stamper, self.writer.submit).handle,  # annotate.py
            SiaRefused.cmd: lambda c: self.writer.submit(sia_refused_event(self.stamper, c)),
        }

    def _end_walk_test(self, command: WalkTestEnd) -> dict[str, Any]:
        """End the walk test; answer once its report (the row that ends it) is in
        the log, so the report page finds it (unless the disk is failing)."""
        report: dict[str, Any] = self._act(lambda: self.engine.end_walk_test(command.user))
        self.writer.flush(timeout=2.0)
        return report

    def _override(self, act: Callable[[], Any]) -> Any:
        """An override command: done on the engine thread, then stored (it survives
        a restart) before the answer."""
        result = self._act(act)
        self.overrides.save()
        return result

    def _board(self) -> dict[str, Any]:
        spec = self.board.spec
        return {
            "name": spec.name,
            "title": spec.title,
            "notes": spec.notes,
            "pins": spec.pin_table(),
            "config_txt": spec.config_txt_lines(),
        }

    def status(self) -> dict[str, Any]:
        engine = self.engine
        status: dict[str, Any] = self.runner.call(
            lambda: engine.status() | engine.override_status() | {"walk_test": engine.walk_report()}
        )
        status.update(
            version=__version__,
            uptime_s=round(time.monotonic() - self.started_mono, 1),
            simulated=self.board.simulated,
            board=self.board.spec.name,
            boot_id=self.stamper.boot_id,
            clock_synced=self.clock.synced(),
            eventlog={
                "fault": self.writer.fault,
                "pending": self.writer.pending,
                "dropped": self.writer.dropped,
                "commits": self.writer.commits.snapshot.to_json(),  # app/eventlog/commitstats
            },
        )
        return status

    def _start_output(self, command: StartOutput) -> None:
        n, duration, user = command.output, command.duration_ms, command.user
        self._act(lambda: self.engine.manual_start(n, duration, user))
        self._persist_latches(user)

    def _stop_output(self, command: StopOutput) -> Changed:
        n, user = command.output, command.user
        stopped = self._act(lambda: self.engine.manual_stop(n, user))  # idle: not logged
        self._persist_latches(user)
        return Changed(changed=stopped)

    def _trigger(self, command: Trigger) -> None:
        self._act(lambda: self.engine.trigger(command.user))

    def _persist_latches(self, user: str) -> None:
        """Keep the latches with the events (the writer writes them). Wait for the
        write, so a latch reported is durable, unless the disk is failing: then the
        action stands and the latch is written with the backlog."""
        latched = self.runner.call(self.engine.latched)
        self.writer.set_latches(latched, self.clock.utc_us(), user)
        self.writer.flush(timeout=2.0)

    def _simulate(self, command: Simulate) -> str:
        if self.sim is None:
            raise CommandError("simulation is only available on simulated pins (--pins mock)")
        sim, action = self.sim, command.action
        if command.user and action != "release":  # the log names who did it, not "button"
            n, user = command.input, command.user
            engine = self.engine

            def note() -> None:
                names = [ch.name for ch in engine.inputs]
                if n is None or 1 <= n <= len(names):
                    engine.simulated_by["button" if n is None else names[n - 1]] = user

            self.runner.call(note)
        if command.input is not None:  # close or open (the model checks)
            sim.set_contact(command.input, action == "close")
        else:
            (sim.press if action == "press" else sim.release)()
        return action

    def _signal(self, command: Signal) -> Changed:
        """A virtual input's signal (from the web API or the network process)."""
        k, action, pulse_s, user = command.virtual, command.action, command.pulse_s, command.user
        return Changed(changed=self._act(lambda: self.engine.signal(k, action, pulse_s, user)))

    def _set_config(self, command: SetConfig) -> Changed:
        new, user = command.config, command.user
        problems = new.fits(self.board.spec)
        if problems:
            raise CommandError("the configuration does not fit this board: " + "; ".join(problems))
        self._check_deadline()
        save_config(self.db, new, self.clock.utc_us())
        # The engine logs the change (old and new values) before what it does;
        # the running configuration again changes nothing and logs nothing.
        changed = self.runner.call(lambda: self.engine.apply_config(new, user))
        if CONFIG_FAULT in self.engine.faults:  # the stored configuration is good again
            self.runner.call(
                lambda: self.engine.set_fault(CONFIG_FAULT, False, "a configuration was saved")
            )
        self._persist_latches(user)  # latches are stored by output name
        return Changed(changed=changed)

    def _security(self, command: SecurityEvent) -> None:
        """An access event from the web process (a login, a failure, a new user)."""
        self.writer.submit(
            self.stamper.make(
                Kind.SECURITY,
                command.state,
                Cause.USER,
                source=command.user,
                detail=dict(command.detail),
            )
        )

    def _clear_fault(self, command: ClearFault) -> None:
        """An operator acknowledged a persistent fault (kept in the log's database
        until cleared): clear it, logged with who did."""
        code, user = command.code, command.user
        keys = {fault.code: fault.key for fault in active_faults(self.db)}
        if code not in keys:
            active = ", ".join(sorted(keys)) or "none"
            raise CommandError(
                f"no fault {code!r} to clear: only faults that stay until cleared can be "
                f"(active now: {active}); the others clear when their cause goes"
            )
        self._check_deadline()
        clear_persistent_fault(self.db, keys[code])
        key = f"eventlog:{code}"
        self.runner.call(
            lambda: self.engine.set_fault(key, False, f"cleared by {user}", cleared_by=user)
        )

    def _network_fault(self, command: NetworkFault) -> None:
        """A fault of the network process (docs/integrations.md): on channel network."""
        key, active = f"network:{command.code}", command.active
        message = command.message or command.code
        self._act(lambda: self.engine.set_fault(key, active, message))

    def _reload(self) -> None:
        self._check_deadline()
        new = load_config(self.db)
        if new is not None:  # the engine logs config-reloaded before what it does
            self.runner.call(lambda: self.engine.apply_config(new))


def run_forever(process: IoProcess) -> None:
    """Start ``process``, wait for SIGTERM or SIGINT, stop it cleanly."""
    reason: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only a list append: taking a lock here (Event.set) can deadlock with
        # the main thread that the handler interrupted inside Event.wait.
        reason.append(signal.Signals(signum).name)

    # Each signal writes a byte to wake_w, which ends the recv below: no polling.
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    previous_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    try:
        process.start()
        while not reason:
            wake_r.recv(64)
    finally:
        process.stop(reason[0] if reason else "stopped")  # (nothing if start failed)
        signal.set_wakeup_fd(previous_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        wake_r.close()
        wake_w.close()
