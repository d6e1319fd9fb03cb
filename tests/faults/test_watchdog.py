"""The systemd watchdog (requirement 8), with the test as systemd: a datagram socket
at ``NOTIFY_SOCKET`` receives what the io process sends (``sd_notify``).

- The real ``alarmbridge io``: READY once started, WATCHDOG pings well inside
  ``WatchdogSec`` (2 s here, the smallest the io process supports: its engine loop
  turns at least once a second), STOPPING on SIGTERM. SIGSTOP (the whole process
  hangs): the pings stop; as systemd, the test kills it and starts it again, and
  the log shows a start with no stop before it.
- An io process whose engine thread alone stalls (a job that sleeps on it, as a
  hung engine would) while every other thread runs: the pings stop for as long,
  then resume.
"""

from __future__ import annotations

import functools
import itertools
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from app.io.notify import Notifier
from app.io.process import IoProcess
from app.settings import Settings
from tests.faults.harness import rows, summary, variants, written
from tests.io.conftest import IoProc
from tests.support import wait_for

WATCHDOG_S = 2.0


class Systemd:
    """The notify socket's receiving end: every datagram with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError:
                return  # closed
            self.messages.append((time.monotonic(), data.decode()))

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))}

    def pings(self, start: float = 0.0, end: float = float("inf")) -> list[float]:
        return [t for t, m in self.messages if m == "WATCHDOG=1" and start <= t < end]

    def said(self, what: str) -> list[float]:
        return [t for t, m in self.messages if m.split("\n")[0] == what]

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    with closing(Systemd(tmp_path / "notify")) as listening:
        yield listening


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@variants("watch_s, hangs", (3, 1), (60, 5))
def test_the_io_process_pings_the_watchdog_and_stops_when_it_hangs(
    tmp_path: Path, systemd: Systemd, watch_s: float, hangs: int, figures: dict[str, Any]
) -> None:
    io = IoProc(tmp_path / "data", env=systemd.env)
    db = io.data_dir / "alarmbridge.db"
    restarts: list[float] = []
    io.start()
    try:
        wait_for(lambda: systemd.said("READY=1"))
        started = time.monotonic()
        time.sleep(watch_s)
        healthy = gaps(systemd.pings(started))
        assert len(healthy) >= watch_s / WATCHDOG_S
        assert max(healthy) < WATCHDOG_S * 0.75  # well inside the timeout
        for _ in range(hangs):
            assert io.proc is not None
            io.proc.send_signal(signal.SIGSTOP)
            hung = time.monotonic()
            time.sleep(WATCHDOG_S * 1.25)
            assert not systemd.pings(hung + 0.05)  # silent: systemd's timeout runs out
            io.signal(signal.SIGKILL)  # what systemd does then (after SIGABRT)
            io.start()
            ready = wait_for(lambda: systemd.said("READY=1")[-1] > hung and systemd.said("READY=1"))  # noqa: B023
            restarts.append(ready[-1] - hung)
            wait_for(functools.partial(written, io))  # its "started" is in the log
        stopping = time.monotonic()
        io.stop()
        assert systemd.said("STOPPING=1")[-1] > stopping
    finally:
        io.stop()
    log = [(r["kind"], r["state"]) for r in rows(db) if r["kind"] == "system"]
    starts = [i for i, e in enumerate(log) if e == ("system", "started")]
    assert len(starts) == hangs + 1
    for before, start in itertools.pairwise(starts):  # killed: no "stopped" between
        assert ("system", "stopped") not in log[before:start]
    assert log[-1] == ("system", "stopped")
    figures.update(
        watchdog_s=WATCHDOG_S,
        ping_gap_s=summary(healthy),
        hangs=hangs,
        hang_to_ready_again_s=summary(restarts),
    )


@variants("stalls", (1,), (10,))
def test_pings_stop_while_the_engine_stalls(
    tmp_path: Path, systemd: Systemd, stalls: int, figures: dict[str, Any]
) -> None:
    io = IoProcess(
        Settings(data_dir=tmp_path / "data", pins="mock"), notifier=Notifier(systemd.env)
    )
    io.start()
    silences: list[float] = []
    try:
        for _ in range(stalls):
            time.sleep(WATCHDOG_S / 2)
            stalled = time.monotonic()
            io.runner.post(lambda: time.sleep(WATCHDOG_S * 1.25))  # the engine thread hangs
            time.sleep(WATCHDOG_S * 1.25)
            assert io.writer.flush()  # the other threads go on
            resumed = wait_for(lambda: systemd.pings(stalled + WATCHDOG_S))  # noqa: B023
            silence = resumed[0] - max(systemd.pings(0, stalled + 0.01))
            assert silence > WATCHDOG_S  # systemd would have restarted it
            silences.append(silence)
    finally:
        io.stop()
    figures.update(watchdog_s=WATCHDOG_S, stalls=stalls, silence_s=summary(silences))
