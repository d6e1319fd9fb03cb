"""After start, the event log's whole hash chain is checked (requirement 6), in a
separate process that runs only when the CPU is otherwise idle (``SCHED_IDLE``,
which also drops the real-time policy the io process may have on the Pi): it reads
every row, seconds on a Pi for a long log, and in this process it would take the
CPU and the GIL from the engine's thread. It is ``alarmbridge events verify
--idle`` (exit code 3: the chain is broken); a broken chain becomes a persistent
fault."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
BROKEN = 3  # alarmbridge events verify: the chain does not hold


class ChainCheck:
    """Runs the check once, ``delay_s`` after :meth:`start`, on a thread that waits
    for the child; ``on_broken`` gets what it found when the chain does not hold."""

    def __init__(
        self, data_dir: Path, on_broken: Callable[[str], None], *, delay_s: float = 30.0
    ) -> None:
        self._data_dir = data_dir
        self._delay_s = delay_s
        self._stop = threading.Event()
        self._on_broken = on_broken
        self._child: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="chain-check", daemon=True)
        self.result: int | None = None  # the child's exit code, once it ended

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if self._stop.wait(self._delay_s):  # after start-up, when things are calm
            return
        command = [sys.executable, "-P", "-m", "app.cli", "events", "verify", "--idle"]
        command += ["--data-dir", str(self._data_dir)]
        with self._lock:
            if self._stopped:
                return
            try:
                self._child = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
            except OSError:
                log.warning("could not start the event log's chain check", exc_info=True)
                return
        _, err = self._child.communicate()
        self.result = self._child.returncode
        if self.result == BROKEN:
            said = " ".join(err.split()).removeprefix("alarmbridge: ")
            log.error("event log: %s", said)
            try:
                self._on_broken(said)
            except Exception:
                log.exception("recording a broken chain failed")

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._stopped = True
            child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(OSError):
                child.kill()
        if self._thread.ident is not None:
            self._thread.join(5)
