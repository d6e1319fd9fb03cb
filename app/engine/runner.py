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
from typing import Any, TypeVar

from app.engine.core import Engine
from hardware import ContactChange

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_WAIT_S = 1.0


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

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``fn`` on the engine thread and return its result (or raise its error)."""
        future: Future[T] = Future()

        def job() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)

        self._queue.put(job)
        return future.result(timeout)

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
                while item != ():
                    if item is None:
                        return
                    if isinstance(item, ContactChange):
                        engine.contact_changed(item)
                    else:
                        item()
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = ()
                deadline = engine.tick()
            except Exception:
                log.exception("the engine loop hit an error; it carries on")
                deadline = None
