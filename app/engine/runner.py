"""The engine's thread: one owner for the engine, fed by a queue.

GPIO callbacks only put the raw change on the queue (no logic, no I/O, never
raise). Commands from the control socket run on the same thread, so the engine
needs no locks; their results come back through a future.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from app.engine.core import Engine
from hardware import ContactChange

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_WAIT_S = 1.0


class CommandExpiredError(Exception):
    """A command was not done: it reached the engine after its deadline (``late_ms``
    after it), or the engine thread did not get to it in time (``late_ms`` None)."""

    def __init__(self, late_ms: int | None) -> None:
        self.late_ms = late_ms
        when = "in time" if late_ms is None else f"until {late_ms} ms after its deadline"
        super().__init__(f"not done: the io process could not act on it {when}")


class EngineRunner:
    """Runs ``engine`` on a dedicated thread. ``heartbeat`` is called on every loop turn
    (at least once a second): the watchdog's proof of life."""

    def __init__(self, engine: Engine, *, heartbeat: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.heartbeat = heartbeat
        self._queue: queue.SimpleQueue[ContactChange | Callable[[], None] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self.last_loop_mono = time.monotonic()

    def contact_changed(self, change: ContactChange) -> None:
        """The hardware handler: called on gpiozero's callback thread."""
        self._queue.put(change)

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the engine thread, without waiting."""
        self._queue.put(fn)

    def call(
        self, fn: Callable[[], T], timeout: float = 5.0, *, deadline_ns: int | None = None
    ) -> T:
        """Run ``fn`` on the engine thread and return its result (or raise its error).

        ``fn`` runs only if the engine thread gets to it within ``timeout`` seconds
        and before ``deadline_ns`` (``time.monotonic_ns()``); otherwise it never runs
        and :class:`CommandExpiredError` is raised: a caller told "not done" can trust it.
        """
        future: Future[T] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return  # the caller gave up: never act late
            late = 0 if deadline_ns is None else time.monotonic_ns() - deadline_ns
            if late > 0:
                future.set_exception(CommandExpiredError(late // 1_000_000))
                return
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._queue.put(job)
        wait = timeout
        if deadline_ns is not None:
            wait = min(wait, max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9) + 0.05)
        try:
            return future.result(wait)
        except FutureTimeout:
            if future.cancel():
                raise CommandExpiredError(None) from None
            return future.result()  # it is running now: it finishes

    def start(self, latched: list[str]) -> None:
        self.engine.start(latched)
        board = self.engine.board
        board.set_input_handler(self.contact_changed)
        if board.button is not None:
            board.button.handler = self.contact_changed
        self._thread.start()

    def stop(self, reason: str = "stopped", timeout: float = 2.0) -> None:
        """Stop the loop, then put every relay in its safe state (always)."""
        board = self.engine.board
        board.set_input_handler(None)
        if board.button is not None:
            board.button.handler = None
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self.engine.stop(reason)

    def _run(self) -> None:
        engine = self.engine
        deadline = engine.tick()
        while True:
            self.last_loop_mono = time.monotonic()
            if self.heartbeat is not None:
                self.heartbeat()
            wait = MAX_WAIT_S
            if deadline is not None:
                wait = min(wait, max(0.0, (deadline - engine.clock.monotonic_ns()) / 1e9))
            try:
                item: Any = self._queue.get(timeout=wait)
            except queue.Empty:
                item = ()
            try:
                edges: set[str] = set()  # only edges came: a quick tick for their inputs
                other = item == ()  # a timed wake-up, or a command: a whole tick
                while item != ():
                    if item is None:
                        return
                    if isinstance(item, ContactChange):
                        engine.contact_changed(item)
                        edges.add(item.name)
                    else:
                        item()
                        other = True
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = ()
                deadline = engine.tick() if other else engine.tick_edges(edges, deadline)
            except Exception:
                log.exception("the engine loop hit an error; it carries on")
                deadline = None
