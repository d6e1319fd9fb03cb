"""Running a client of the io socket as another user (SO_PEERCRED tests): a directory
that user can reach, and a script run as that user with the system's python3. Needs
root; the tests skip without it (CI runs as root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

OTHER_UID = 65534  # nobody


def shared_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's own are private); use it as a
    fixture's body (``yield from shared_dir()``)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run a client of the io socket as another user")
    if shutil.which("python3", path="/usr/bin:/bin") is None:
        pytest.skip("needs a system python3 that another user can run")
    where = Path(tempfile.mkdtemp(prefix="alarmbridge-peer-"))
    where.chmod(0o711)
    try:
        yield where
    finally:
        shutil.rmtree(where)


def run_as_other_user(script: str, *args: str) -> dict[str, dict[str, Any]]:
    """Run ``script`` (python source printing one JSON object with a "cmd" per line) as
    :data:`OTHER_UID`, with no groups; its lines by command."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python is not None
    done = subprocess.run(
        [python, "-I", "-c", script, *args],
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return {r["cmd"]: r for r in map(json.loads, done.stdout.splitlines())}
