"""Start the real ``alarmbridge io`` / ``alarmbridge web`` processes and stop them again.

Every process is started here with its own data directory and port, and stopped
by its own pid (SIGTERM, then SIGKILL after a timeout); nothing is ever stopped
by name.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.io.protocol import Client, ControlError
from bench.common import REPO, TOKEN, free_port

PYTHON = sys.executable
CLI = [PYTHON, "-m", "app.cli"]


class BenchError(Exception):
    """A process did not come up, or answered wrongly."""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ALARMBRIDGE_TIMEZONE": "UTC"}
    env.update(extra or {})
    return env


@dataclass
class Proc:
    """A child process we started, with its output kept in a log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started_ns: int = 0

    def start(self, env: dict[str, str] | None = None) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.started_ns = time.monotonic_ns()
        self.popen = subprocess.Popen(
            list(self.argv),
            cwd=REPO,
            env=_env(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the bench reaches only the bench
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BenchError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM this process (by its pid), wait, SIGKILL if it will not stop."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def claim(data_dir: Path) -> None:
    """Give the appliance in ``data_dir`` an admin and the run's API token (as an
    installer would after setup), so its web process answers the benches."""
    store = AuthStore(data_dir / "auth.db")
    try:
        if not store.has_users():
            store.create_first_admin("bench", hash_password("bench admin passphrase"))
        if not any(t.created_by == "bench" and t.name == "bench" for t in store.tokens()):
            store.new_token("bench", Role.ADMIN, "bench", secret=TOKEN)
    finally:
        store.close()


def http_get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """One GET on 127.0.0.1:``port`` with the run's token: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_http(port: int, path: str, *, proc: Proc | None = None, timeout: float = 30.0) -> int:
    """Poll until ``path`` answers 200; return monotonic_ns of that answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = http_get(port, path, timeout=2.0)
            if status == 200:
                return time.monotonic_ns()
        time.sleep(0.01)
    raise BenchError(f"http://127.0.0.1:{port}{path} did not answer 200 within {timeout} s")


def wait_io(socket_path: Path, *, proc: Proc | None = None, timeout: float = 30.0) -> int:
    """Poll the io process's control socket until ``status`` answers; monotonic_ns then."""
    client = Client(socket_path, timeout=5.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        try:
            client.request("status")
            return time.monotonic_ns()
        except ControlError:
            time.sleep(0.005)
    raise BenchError(f"the io process at {socket_path} did not answer within {timeout} s")


def board_file(directory: Path, channels: int) -> Path:
    """A custom board with ``channels`` inputs, as a board file (``--board-file``).

    Up to 8 channels: one relay per input. The header has 28 GPIOs, so 16 inputs
    share 8 relays (input n drives relay ((n - 1) mod 8) + 1), and the board uses
    bus pins it allows itself (``allow_reserved``) with no button or LED; the
    sharing is set in the configuration (:func:`bench_config`).
    """
    free = [4, 5, 6, 12, 13, 16, 17, 18, 19, 20, 21, 22, 23, 26, 27]  # no bus, not 24/25
    extra = [0, 1, 2, 3, 7, 8, 9, 10, 11, 14, 15]  # bus pins (allowed below)
    if channels <= 6:
        spec: dict[str, Any] = {"inputs": free[:channels], "relays": free[6 : 6 + channels]}
    elif channels <= 8:
        pins = free + extra
        spec = {
            "inputs": pins[:channels],
            "relays": pins[channels : 2 * channels],
            "allow_reserved": [p for p in pins[: 2 * channels] if p in extra],
        }
    else:
        relays = min(8, 28 - channels)
        pins = free + extra + [24, 25]
        spec = {
            "inputs": pins[:channels],
            "relays": pins[channels : channels + relays],
            "allow_reserved": [p for p in pins[: channels + relays] if p in extra],
            "button": None,
            "led": None,
        }
    spec["name"] = f"bench-{channels}"
    spec["title"] = f"Benchmark board: {channels} inputs"
    path = directory / f"board-{channels}.json"
    path.write_text(json.dumps(spec, indent=1))
    return path


def board_args(directory: Path, channels: int) -> list[str]:
    """``--board`` arguments for a board with ``channels`` inputs (4 = the default preset)."""
    if channels == 4:
        return ["--board", "default"]
    return ["--board", "custom", "--board-file", str(board_file(directory, channels))]


def bench_config(config: dict[str, Any], *, response_ms: int) -> dict[str, Any]:
    """The configuration the latency benches run: every input drives one relay
    (shared round-robin when there are more inputs than relays), ``response_ms``
    as given, chatter detection out of the way (a bench makes thousands of edges a
    second on purpose) and no stuck-input fault."""
    n_out = len(config["outputs"])
    for n, item in enumerate(config["inputs"], 1):
        item["response_ms"] = response_ms
        item["outputs"] = [(n - 1) % n_out + 1]
        item["chatter_changes"] = 10_000
        item["chatter_window_s"] = 1
        item["stuck_after_s"] = 0
    return config


@dataclass
class Stack:
    """``alarmbridge io`` and ``alarmbridge web`` on simulated pins, in ``data_dir``."""

    data_dir: Path
    channels: int = 4
    port: int = field(default_factory=free_port)
    io: Proc | None = None
    web: Proc | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "io.sock"

    def client(self) -> Client:
        return Client(self.socket_path, timeout=10.0)

    def start(self, *, io: bool = True, web: bool = True, timeout: float = 60.0) -> Stack:
        """Start both (io first, as the supervisor does) and wait until the web
        process answers ``/api/v1/status`` with 200 (which needs the io process)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        claim(self.data_dir)
        common = ["--data-dir", str(self.data_dir)]
        if io:
            hw = ["--pins", "mock", *board_args(self.data_dir, self.channels)]
            self.io = Proc("io", [*CLI, "io", *common, *hw], self.data_dir / "io.log").start()
        if web:
            net = ["--port", str(self.port)]
            self.web = Proc("web", [*CLI, "web", *common, *net], self.data_dir / "web.log").start()
        if io:
            wait_io(self.socket_path, proc=self.io, timeout=timeout)
        if web:
            wait_http(self.port, "/api/v1/status", proc=self.web, timeout=timeout)
        return self

    def stop(self) -> None:
        for proc in (self.web, self.io):  # web first, as the supervisor does
            if proc is not None:
                proc.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()
