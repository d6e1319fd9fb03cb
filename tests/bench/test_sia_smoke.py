"""bench/sia.py at tiny counts, to keep it working (its figures mean nothing here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_sia_bench_runs() -> None:
    argv = [sys.executable, "-m", "bench.sia", "--frames", "6", "--edges", "6"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["frame_to_relay_ms"]["n"] == 6
    assert result["frame_to_relay_ms"]["missed"] == 0
    assert result["wired_edge_to_relay_during_flood_ms"]["missed"] == 0
    assert result["flood_frames_per_s"] is not None
