"""bench/onvif.py at tiny counts, to keep it working (its figures mean nothing here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_onvif_bench_runs() -> None:
    argv = [sys.executable, "-m", "bench.onvif", "--requests", "4"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["refused_by_the_device"] == 0
    assert result["relay_ms"]["n"] == 4 and result["snapshot_ms"]["n"] == 2
    assert result["jpeg_bytes"] > 0
