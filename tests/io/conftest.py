"""Run the real io process (``alarmbridge io``) in a subprocess on simulated pins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from app.io.protocol import Client, ControlError
from tests.support import wait_for as wait_for  # for tests that import it from here

CLI = [sys.executable, "-m", "app.cli"]


def cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``alarmbridge ARGS --data-dir DATA_DIR`` and capture its output."""
    done = subprocess.run(
        [*CLI, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=30
    )
    if check and done.returncode != 0:
        raise AssertionError(f"alarmbridge {' '.join(args)} failed: {done.stderr}")
    return done


class IoProc:
    """``alarmbridge io`` on simulated pins (or ``command``, given ``--data-dir``), with
    ``env`` added to the environment."""

    def __init__(
        self,
        data_dir: Path,
        command: Sequence[str] = (*CLI, "io"),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.command = command
        self.env = {**os.environ, "ALARMBRIDGE_PINS": "mock", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.client = Client(data_dir / "io.sock", timeout=10)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.command, "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"io process died: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                self.client.request("status")
                return
            except ControlError:
                time.sleep(0.05)
        raise AssertionError("io process did not come up")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.wait()

    def wait(self) -> int:
        """Wait for the process to end; its exit code."""
        assert self.proc is not None
        code = self.proc.wait(10)
        self.proc.stdout.close()  # type: ignore[union-attr]
        self.proc.stderr.close()  # type: ignore[union-attr]
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None:
            self.signal(signal.SIGTERM)


@pytest.fixture
def io_proc(tmp_path: Path) -> Iterator[IoProc]:
    proc = IoProc(tmp_path / "data")
    yield proc
    proc.stop()
