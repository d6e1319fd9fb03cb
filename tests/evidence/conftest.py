"""A live RTSP camera for the snapshot tests: GStreamer's RTSP server, once per session."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The server runs under the system Python (Debian's GObject bindings), not in the venv.
collect_ignore = ["rtsp_server.py"]

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gst-1.0
SIZE = (640, 360)


@dataclass(frozen=True)
class RtspCamera:
    url: str
    width: int
    height: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _unavailable(reason: str) -> None:
    if os.environ.get("ALARMBRIDGE_REQUIRE_RTSP") == "1":
        pytest.fail(
            f"{reason} and ALARMBRIDGE_REQUIRE_RTSP=1: run tests/evidence/install-gstreamer.sh"
        )
    pytest.skip(f"{reason}: run tests/evidence/install-gstreamer.sh as root to install it")


@pytest.fixture(scope="session")
def rtsp_camera() -> Iterator[RtspCamera]:
    """rtsp://127.0.0.1:<port>/live: a live 640x360 H.264 stream, a key frame every second."""
    if not os.path.exists(SYSTEM_PYTHON):
        _unavailable("no system Python with GStreamer")
    port = _free_port()
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER), str(port), f"{SIZE[0]}x{SIZE[1]}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if first != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=5)
        _unavailable(f"GStreamer's RTSP server did not start ({first or err.strip()[-300:]})")
    try:
        yield RtspCamera(f"rtsp://127.0.0.1:{port}/live", *SIZE)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
