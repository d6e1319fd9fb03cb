"""The dev supervisor, through real processes.

The children are a small Python script (``CHILD`` below) that appends one line per
event (``start``, ``exit``, ``stopped``, ``ignored``) with its pid and a
``time.monotonic()`` stamp (system-wide on Linux, so comparable across processes)
to a shared file. The supervisor runs either in a thread of the test process
(stopped with ``request_stop()``) or as its own process, to cover its signal
handlers. Every test cleans up what it started, even when it fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any, TypeVar

import pytest

from app.supervisor import Child, Supervisor, describe_exit
from tests.support import wait_for as wait_until

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

CHILD = r"""
import os, signal, sys, time

events, name, behaviour = sys.argv[1:4]

def record(what):
    fd = os.open(events, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{name} {what} {os.getpid()} {time.monotonic()}\n".encode())
    finally:
        os.close(fd)

def on_term(signum, frame):
    if behaviour == "stubborn":
        record("ignored")
        return
    record("stopped")
    sys.exit(0)

try:
    with open(events) as f:
        previous_starts = sum(1 for line in f if line.split()[:2] == [name, "start"])
except FileNotFoundError:
    previous_starts = 0
signal.signal(signal.SIGTERM, on_term)
record("start")
if behaviour == "crash":
    record("exit")
    sys.exit(1)
if behaviour.startswith("lives="):  # the lifetime of each start, then stay up
    lifetimes = [float(t) for t in behaviour.removeprefix("lives=").split(",")]
    if previous_starts < len(lifetimes):
        time.sleep(lifetimes[previous_starts])
        record("exit")
        sys.exit(1)
while True:
    time.sleep(60)
"""

RUNNER = r"""
import sys
from app.supervisor import Child, Supervisor

script, events, stop_timeout, web = sys.argv[1:5]

def child(name, behaviour):
    return Child(name, [sys.executable, script, events, name, behaviour])

children = [child("io", "sleep"), child("web", web)]
sys.exit(Supervisor(children, min_backoff_s=0.05, stop_timeout_s=float(stop_timeout)).run())
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclass(frozen=True)
class Event:
    name: str
    what: str
    pid: int
    t: float


class Log:
    """A ``log`` callable that keeps the lines (list.append is thread-safe)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        self.lines.append(message)

    def delays(self, name: str) -> list[float]:
        """The restart delays announced for ``name``, in order."""
        pattern = re.compile(rf"{name} .*; restarting in ([\d.]+) s$")
        return [float(m[1]) for line in list(self.lines) if (m := pattern.match(line))]


class Running:
    """A supervisor running in a background thread."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.result: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.supervisor.run()
        except BaseException as e:
            self.error = e

    def stop(self, timeout: float = 10.0) -> float:
        """Request a stop, wait for ``run()`` to return 0; how long that took."""
        started = time.monotonic()
        self.supervisor.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run() did not return"
        assert self.error is None
        assert self.result == 0
        return time.monotonic() - started


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.events_path = tmp_path / "events.txt"
        self.script = tmp_path / "child.py"
        self.script.write_text(CHILD)
        self.log = Log()
        self.running: list[Running] = []
        self.procs: list[Popen[str]] = []

    def child(self, name: str, behaviour: str = "sleep") -> Child:
        argv = [sys.executable, str(self.script), str(self.events_path), name, behaviour]
        return Child(name, argv)

    def supervise(self, *children: Child, **options: Any) -> Running:
        options = {"min_backoff_s": 0.05, "max_backoff_s": 0.4, "stop_timeout_s": 2.0, **options}
        options.setdefault("log", self.log)
        running = Running(Supervisor(children, **options))
        self.running.append(running)
        return running

    def spawn_runner(
        self, *, web: str = "sleep", stop_timeout_s: float = 2.0
    ) -> subprocess.Popen[str]:
        """The supervisor as its own process, in its own process group, as if in a terminal."""
        runner = self.tmp_path / "runner.py"
        runner.write_text(RUNNER)
        argv = [str(self.script), str(self.events_path), str(stop_timeout_s), web]
        proc = Popen(
            [sys.executable, str(runner), *argv],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
        )
        self.procs.append(proc)
        return proc

    def events(self, name: str | None = None, what: str | None = None) -> list[Event]:
        if not self.events_path.exists():
            return []
        found = []
        for line in self.events_path.read_text().splitlines():
            n, w, pid, t = line.split()
            if name in (None, n) and what in (None, w):
                found.append(Event(n, w, int(pid), float(t)))
        return found

    def pids(self, name: str) -> list[int]:
        """The pid of each start of ``name``, in order."""
        return [e.pid for e in self.events(name, "start")]

    def wait_started(self, *names: str) -> dict[str, int]:
        """Wait until each of ``names`` has started once; their pids."""
        wait_until(lambda: all(self.pids(name) for name in names))
        return {name: self.pids(name)[0] for name in names}

    def cleanup(self) -> None:
        for running in self.running:
            running.supervisor.request_stop()
            running.supervisor.request_stop()  # a second request: no waiting for stragglers
            running.thread.join(10)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        # The safety net: no child outlives its test, even if its supervisor was killed.
        for event in self.events(what="start"):
            try:
                cmdline = Path(f"/proc/{event.pid}/cmdline").read_text()
                if alive(event.pid) and str(self.script) in cmdline:
                    os.kill(event.pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
        for proc in self.procs:
            proc.communicate(timeout=10)  # closes the pipe; the children held it open too


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.cleanup()


def test_a_killed_child_is_restarted_and_the_other_keeps_running(rig: Rig) -> None:
    running = rig.supervise(rig.child("io"), rig.child("web"))
    pids = rig.wait_started("io", "web")
    assert [line.split()[1] for line in rig.log.lines[:2]] == ["io", "web"]  # "started io (..."
    assert os.getsid(pids["io"]) == pids["io"]  # each child leads its own session
    assert os.getsid(pids["web"]) == pids["web"]

    os.kill(pids["web"], signal.SIGKILL)
    new_web = wait_until(lambda: rig.pids("web")[1:])[0]

    assert new_web != pids["web"]
    assert "web was killed by SIGKILL; restarting in 0.05 s" in rig.log.lines
    assert rig.pids("io") == [pids["io"]]
    assert alive(pids["io"])
    running.stop()
    assert [(e.name, e.pid) for e in rig.events(what="stopped")] == [
        ("web", new_web),
        ("io", pids["io"]),
    ]
    assert not alive(new_web)
    assert not alive(pids["io"])


def test_a_crash_looping_child_backs_off(rig: Rig) -> None:
    running = rig.supervise(rig.child("io"), rig.child("web", "crash"))
    io = rig.wait_started("io")["io"]
    wait_until(lambda: len(rig.pids("web")) >= 6)
    running.stop()

    delays = rig.log.delays("web")
    assert delays[:5] == [0.05, 0.1, 0.2, 0.4, 0.4]
    assert "web exited with code 1; restarting in 0.05 s" in rig.log.lines
    # The restarts really waited that long (and not much longer).
    starts, exits = rig.events("web", "start"), rig.events("web", "exit")
    for i, delay in enumerate(delays[:5]):
        assert delay <= starts[i + 1].t - exits[i].t < delay + 1.5
    assert rig.pids("io") == [io]


def test_the_backoff_resets_once_the_child_stayed_up(rig: Rig) -> None:
    # Three quick exits, one after 1.3 s (> stable_after_s), one quick again, then up.
    web = rig.child("web", "lives=0,0,0,1.3,0")
    running = rig.supervise(rig.child("io"), web, stable_after_s=1.0)
    wait_until(lambda: len(rig.pids("web")) >= 6, timeout=10)
    running.stop()
    assert rig.log.delays("web") == [0.05, 0.1, 0.2, 0.05, 0.1]


def test_a_missing_executable_is_logged_and_retried(rig: Rig) -> None:
    ghost = Child("ghost", [str(rig.tmp_path / "no-such-program"), "--flag"])
    running = rig.supervise(rig.child("io"), ghost)
    io = rig.wait_started("io")["io"]
    wait_until(lambda: len(rig.log.delays("ghost")) >= 3)
    running.stop()

    failures = [line for line in rig.log.lines if line.startswith("ghost could not be started")]
    assert "No such file or directory" in failures[0]
    assert failures[0].endswith("; restarting in 0.05 s")
    assert rig.log.delays("ghost")[:3] == [0.05, 0.1, 0.2]
    assert rig.pids("io") == [io]


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout(rig: Rig) -> None:
    running = rig.supervise(rig.child("io"), rig.child("web", "stubborn"), stop_timeout_s=0.5)
    pids = rig.wait_started("io", "web")
    took = running.stop()

    assert 0.5 <= took < 3
    assert [e.name for e in rig.events(what="ignored")] == ["web"]
    assert [e.name for e in rig.events(what="stopped")] == ["io"]
    # io was asked to stop only once web was gone.
    assert rig.events("web", "ignored")[0].t < rig.events("io", "stopped")[0].t
    assert "web did not stop within 0.5 s" in rig.log.lines
    assert f"killing web (pid {pids['web']})" in rig.log.lines
    assert not alive(pids["web"])
    assert not alive(pids["io"])


def test_children_are_stopped_when_run_raises(rig: Rig) -> None:
    def failing_log(message: str) -> None:
        rig.log(message)
        if "restarting" in message:
            raise RuntimeError("log is broken")

    running = rig.supervise(rig.child("io"), rig.child("web"), log=failing_log)
    pids = rig.wait_started("io", "web")
    os.kill(pids["web"], signal.SIGKILL)
    running.thread.join(10)

    assert isinstance(running.error, RuntimeError)
    assert [e.name for e in rig.events(what="stopped")] == ["io"]
    assert not alive(pids["io"])


def test_run_in_the_main_thread_installs_and_restores_signal_handlers(rig: Rig) -> None:
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.getsignal(s) for s in signums}
    during: dict[int, object] = {}
    supervisor = Supervisor([rig.child("io")], log=rig.log)

    def stop_when_started() -> None:
        try:
            rig.wait_started("io")
            during.update({s: signal.getsignal(s) for s in signums})
        finally:
            supervisor.request_stop()

    helper = threading.Thread(target=stop_when_started)
    helper.start()
    try:
        assert supervisor.run() == 0
    finally:
        helper.join(10)
    assert all(during[s] != before[s] for s in signums)
    assert {s: signal.getsignal(s) for s in signums} == before


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: str(s.name)
)
def test_a_signal_stops_web_then_io(rig: Rig, signum: signal.Signals) -> None:
    proc = rig.spawn_runner()
    pids = rig.wait_started("io", "web")
    if signum == signal.SIGINT:  # Ctrl-C: the terminal signals the whole foreground group
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=10)

    assert proc.returncode == 0, stderr
    assert f"supervisor: got {signum.name}; stopping" in stderr
    assert [(e.name, e.pid) for e in rig.events(what="stopped")] == [
        ("web", pids["web"]),
        ("io", pids["io"]),
    ]
    assert rig.pids("io") == [pids["io"]]  # nothing was restarted on the way out
    assert rig.pids("web") == [pids["web"]]
    assert not alive(pids["web"])
    assert not alive(pids["io"])


def test_a_second_ctrl_c_kills_at_once(rig: Rig) -> None:
    proc = rig.spawn_runner(web="stubborn", stop_timeout_s=30)
    pids = rig.wait_started("io", "web")
    os.killpg(proc.pid, signal.SIGINT)
    wait_until(lambda: rig.events("web", "ignored"))
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)

    assert time.monotonic() - started < 3
    assert proc.returncode == 0, stderr
    assert f"supervisor: killing web (pid {pids['web']})" in stderr
    assert f"supervisor: killing io (pid {pids['io']})" in stderr
    assert rig.events(what="stopped") == []  # io got no SIGTERM: straight to SIGKILL
    assert not alive(pids["web"])
    assert not alive(pids["io"])


def test_child_checks_and_copies_its_arguments() -> None:
    argv = ["python", "-V"]
    child = Child("io", argv, env={"A": "1"})
    argv.append("--changed")
    assert child.argv == ("python", "-V")
    assert hash(child) == hash(Child("io", ["python", "-V"]))
    with pytest.raises(ValueError, match="non-empty list"):
        Child("io", [])
    with pytest.raises(ValueError, match="non-empty list"):
        Child("io", "python")
    with pytest.raises(ValueError, match="min_backoff_s"):
        Supervisor([], min_backoff_s=0)


def test_child_env_is_added_to_the_inherited_environment(rig: Rig) -> None:
    out = rig.tmp_path / "env.txt"
    code = (
        "import os, sys, time; "
        "open(sys.argv[1], 'w').write(os.environ['AB_X'] + ' ' + os.environ['PATH']); "
        "time.sleep(60)"
    )
    child = Child("env", [sys.executable, "-c", code, str(out)], env={"AB_X": "42"})
    running = rig.supervise(child)
    wait_until(out.exists)
    running.stop()
    assert wait_until(out.read_text) == f"42 {os.environ['PATH']}"


def test_describe_exit() -> None:
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(-signal.SIGTERM) == "was killed by SIGTERM"
    assert describe_exit(-200) == "was killed by signal 200"
