"""The benchmark harness at tiny counts: every bench runs and writes results of the
expected shape (the runner checks them and fails otherwise), and the report
renders. No timing is asserted: figures are measured by ``make bench`` (see
docs/performance.md). ``bench`` is not an installed package, so it runs as
``python -m bench`` from the repository, as the Makefile runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_bench_runs_at_tiny_counts_and_the_report_renders(tmp_path: Path) -> None:
    results, doc, charts = tmp_path / "results", tmp_path / "performance.md", tmp_path / "img"
    argv = [
        sys.executable, "-m", "bench", "--smoke", "--jobs", "4",
        "--results", str(results), "--doc", str(doc), "--charts", str(charts),
        "--work", str(tmp_path / "work"), "--cache", str(tmp_path / "cache"),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    run = json.loads((results / "run.json").read_text())
    assert run["mode"] == "smoke"
    for name in run["benches"]:
        result = json.loads((results / f"{name}.json").read_text())
        assert result["checks"], name
        assert "error" not in result, result.get("error")
    assert (results / "raw" / "edge.json").exists()

    text = doc.read_text()
    for metric in range(1, 10):
        assert f"\n## {metric}. " in text
    assert "## Summary" in text
    assert "## Targets missed, and why" in text
    for svg in ("summary.svg", "edge-latency.svg", "fanout-latency.svg"):
        assert ET.parse(charts / svg).getroot().tag.endswith("svg")
        assert f"img/{svg}" in text


def test_the_harness_doctests_pass() -> None:
    modules = ["bench/common.py", "bench/load.py", "bench/report.py"]
    done = subprocess.run(
        [sys.executable, "-m", "doctest", *modules],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
