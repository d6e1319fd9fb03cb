"""``python -m bench.sites`` at one site and a 1 s broker outage: it runs, loses
nothing and writes its result (no figure is asserted: docs/integrations.md quotes
the measured ones); and it refuses, with a sentence, more sites than the machine's
memory holds. Needs Mosquitto, as tests/network does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _mosquitto() -> None:
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
        return
    message = "mosquitto not found: run tests/network/install-mosquitto.sh (as root)"
    if os.environ.get("ALARMBRIDGE_REQUIRE_MQTT") == "1":
        pytest.fail(message + " (ALARMBRIDGE_REQUIRE_MQTT=1)")
    pytest.skip(message)


def sites(*args: str, results: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bench.sites", *args, "--results", str(results)]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=180)


def test_one_site_through_a_broker_outage(tmp_path: Path) -> None:
    results = tmp_path / "sites.json"
    done = sites("--sites", "1", "--outage-s", "1", "--edges", "5", results=results)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(results.read_text())
    assert result["sites"] == 1
    assert result["lost"] == 0 and result["in_order"]
    assert result["edge_to_subscriber_ms"]["n"] == 5
    assert result["outage_events"] > 0
    assert result["memory"]["io_rss_mib_mean"] > 0 and result["memory"]["network_rss_mib_mean"] > 0


def test_more_sites_than_the_memory_holds_stop_with_a_sentence(tmp_path: Path) -> None:
    results = tmp_path / "sites.json"
    done = sites("--sites", "1000000", results=results)
    assert done.returncode != 0
    assert "1000000 sites need about" in done.stderr
    assert "run fewer with --sites" in done.stderr
    assert not results.exists()
