"""``alarmbridge run`` starts its children on the installed code, whatever the
current directory holds (#17: run from a checkout of another version, the children
ran that version's ``app`` package)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from app.io.protocol import Client, ControlError
from tests.support import wait_for

ALARMBRIDGE = Path(sys.executable).parent / "alarmbridge"
IMPOSTER = """
from pathlib import Path
Path(__file__).resolve().parents[1].joinpath("imposter-ran").write_text("yes")
raise SystemExit(3)
"""


def test_run_children_import_the_installed_app_not_the_current_directory(tmp_path: Path) -> None:
    fake = tmp_path / "checkout" / "app"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "cli.py").write_text(IMPOSTER)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path / "data"
    run = subprocess.Popen(
        [str(ALARMBRIDGE), "run", "--pins", "mock", "--port", str(port), "--data-dir", str(data)],
        cwd=fake.parent,
        env={**os.environ, "PYTHONPATH": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def io_answers() -> bool:
            try:
                return bool(Client(data / "io.sock", timeout=2).request("status")["running"])
            except ControlError:
                return False

        wait_for(io_answers, timeout=20)
    finally:
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=30)
    assert not (fake.parent / "imposter-ran").exists()
