"""Run the io and web processes together in development (``alarmbridge run``).

On the Pi, systemd supervises the two processes; on a laptop this module does: it
starts the children in order (io first, so the web process has something to talk
to; it does not wait for one to be ready before starting the next), restarts any
child that exits, and stops them all on Ctrl-C or SIGTERM.

Decisions, and why:

* **Each child runs in its own session** (``start_new_session=True``). In a
  terminal, Ctrl-C sends SIGINT to the whole foreground process group; if the
  children shared it, they would exit on their own, in no particular order, while
  the supervisor raced to "restart" them. In their own sessions only the supervisor
  sees Ctrl-C, and it alone decides the shutdown. Children inherit stdout and
  stderr (their output shows in the terminal) but get ``/dev/null`` as stdin, so
  neither competes for the keyboard. Closing the terminal (SIGHUP) no longer
  reaches them either, so the supervisor treats SIGHUP like SIGTERM.
* **Ordered shutdown**: SIGTERM to the children in reverse order (web first, then
  io, which owns the relays and so stops last), waiting up to ``stop_timeout_s``
  for each before SIGKILL. A second stop request (a second Ctrl-C) SIGKILLs
  whatever is left at once. Signals go to the child's whole process group, as a
  terminal's do, so helpers a child started (uvicorn's reloader worker) go with it.
* **Backoff**: a child that exits is restarted after a delay that starts at
  ``min_backoff_s`` and doubles per quick exit up to ``max_backoff_s``; it goes
  back to ``min_backoff_s`` once the child had stayed up ``stable_after_s``. A
  child that cannot even be started (missing executable) is treated the same way:
  one log line, no traceback. The other children are left alone.
* **Simple waiting**: the loop polls each child every 0.1 s (or sooner, when a
  restart is due). The signal handlers only record the request, without locks or
  output, so they cannot deadlock or garble a line being printed; the loop picks
  the request up within 0.1 s.
* **No orphans**: ``run()`` stops and reaps every child in a ``finally``, so an
  exception out of the loop does not leave them running. (Nothing can help if the
  supervisor itself is SIGKILLed; then the children must be stopped by hand.)

A :class:`Supervisor` runs once: call :meth:`Supervisor.run` a single time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

_POLL_S = 0.1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _to_stderr(message: str) -> None:
    print(f"supervisor: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Child:
    """One process to supervise: a name for the log, its command line and extra environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.argv, str) or not self.argv:
            raise ValueError(f"child {self.name!r} needs a non-empty list of arguments")
        object.__setattr__(self, "argv", tuple(self.argv))  # a caller's later edits do not leak in
        if self.env is not None:
            object.__setattr__(self, "env", dict(self.env))


@dataclass
class _Slot:
    child: Child
    backoff: float
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0


def describe_exit(code: int) -> str:
    """How a child ended, from its ``Popen.returncode``.

    >>> describe_exit(1), describe_exit(-9)
    ('exited with code 1', 'was killed by SIGKILL')
    """
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


class Supervisor:
    """Start ``children`` in order, restart any that exits, stop them all on request."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        log: Callable[[str], None] = _to_stderr,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        stable_after_s: float = 30.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < min_backoff_s <= max_backoff_s")
        self._slots = [_Slot(child, min_backoff_s) for child in children]
        self._log = log
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._stable_after_s = stable_after_s
        self._stop_timeout_s = stop_timeout_s
        # One entry per stop request. list.append is atomic and takes no lock that a
        # signal handler could find already held by the thread it interrupted.
        self._stop_requests: list[str] = []

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask ``run()`` to stop the children and return; a second request kills them at once.

        Safe to call from any thread and from a signal handler.
        """
        self._stop_requests.append(reason)

    def run(self) -> int:
        """Supervise until :meth:`request_stop` (or SIGINT, SIGTERM, SIGHUP); return 0.

        Signal handlers are installed only when called in the main thread, and the
        previous handlers are restored on return.
        """
        in_main = threading.current_thread() is threading.main_thread()
        previous = {s: signal.signal(s, self._on_signal) for s in _STOP_SIGNALS} if in_main else {}
        try:
            for slot in self._slots:
                if not self._stop_requests:
                    self._start(slot)
            while not self._stop_requests:
                time.sleep(self._sleep_time())
                self._check_children()
            self._log(f"{self._stop_requests[0]}; stopping")
            return 0
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop(f"got {signal.Signals(signum).name}")

    def _sleep_time(self) -> float:
        now = time.monotonic()
        due = [slot.restart_at - now for slot in self._slots if slot.proc is None]
        return max(0.0, min([_POLL_S, *due]))

    def _check_children(self) -> None:
        for slot in self._slots:
            if self._stop_requests:
                return
            if slot.proc is None:
                if time.monotonic() >= slot.restart_at:
                    self._start(slot)
                continue
            code = slot.proc.poll()
            if code is not None:
                slot.proc = None
                self._schedule_restart(slot, describe_exit(code))

    def _start(self, slot: _Slot) -> None:
        child = slot.child
        env = None if child.env is None else {**os.environ, **child.env}
        slot.started_at = time.monotonic()
        try:
            slot.proc = subprocess.Popen(
                child.argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except OSError as e:
            self._schedule_restart(slot, f"could not be started ({e})")
            return
        self._log(f"started {child.name} (pid {slot.proc.pid})")

    def _schedule_restart(self, slot: _Slot, what: str) -> None:
        now = time.monotonic()
        if now - slot.started_at >= self._stable_after_s:
            slot.backoff = self._min_backoff_s
        delay = slot.backoff
        slot.backoff = min(delay * 2, self._max_backoff_s)
        slot.restart_at = now + delay
        self._log(f"{slot.child.name} {what}; restarting in {delay:g} s")

    def _stop_all(self) -> None:
        """SIGTERM each child, last started first; SIGKILL it if it outstays the timeout.

        A failing ``log`` must not cut this short (it may be why we are stopping).
        """

        def log(message: str) -> None:
            with contextlib.suppress(Exception):
                self._log(message)

        for slot in reversed(self._slots):
            proc, slot.proc = slot.proc, None
            if proc is None or proc.poll() is not None:
                continue
            name = slot.child.name
            if len(self._stop_requests) < 2:
                log(f"stopping {name} (pid {proc.pid})")
                _signal_group(proc, signal.SIGTERM)
                deadline = time.monotonic() + self._stop_timeout_s
                while proc.poll() is None and len(self._stop_requests) < 2:
                    if time.monotonic() >= deadline:
                        log(f"{name} did not stop within {self._stop_timeout_s:g} s")
                        break
                    time.sleep(0.02)
            if proc.poll() is None:
                log(f"killing {name} (pid {proc.pid})")
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the child's process group (its id is the child's pid: it leads its session)."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:  # it left its group (setsid); signal it alone
        proc.send_signal(signum)
