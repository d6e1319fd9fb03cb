"""SIGUSR2 makes the network process write every thread's stack to its log and go on:
how to see where a process that will not stop or answer is stuck (docs/deploy.md)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.io.conftest import IoProc
from tests.network.conftest import NetworkProc, wait_until


def test_sigusr2_writes_the_threads_stacks_and_the_process_goes_on(io_proc: IoProc) -> None:
    network = NetworkProc(io_proc.data_dir, {})
    log = io_proc.data_dir.parent / "network.log"
    try:
        network.start()
        assert network.proc is not None
        network.proc.send_signal(signal.SIGUSR2)

        def dumped() -> bool:
            network.log.flush()
            text = Path(log).read_text(errors="replace")
            return "Current thread" in text or "Thread 0x" in text

        wait_until(dumped, 10, "the stacks in the log")
        assert "app/network/process.py" in log.read_text(errors="replace")  # its main loop
        assert network.proc.poll() is None
        network.status()  # and still answers
    finally:
        network.close()
