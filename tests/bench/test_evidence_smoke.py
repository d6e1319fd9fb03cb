"""bench/evidence.py at tiny counts, to keep it working (its figures mean nothing here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_evidence_bench_runs() -> None:
    argv = [sys.executable, "-m", "bench.evidence", "--alarms", "3", "--actions", "2"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["missed"] == 0
    assert result["edge_to_first_action_request_ms"]["n"] == 3
    assert result["edge_to_snapshot_stored_ms"]["n"] == 6
