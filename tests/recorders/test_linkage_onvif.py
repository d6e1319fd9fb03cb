"""An alarm drives an ONVIF relay output and takes an ONVIF camera's snapshot: the real io
process on simulated pins, the real network process, and the ONVIF device peer
(tests/actions/onvif_peer.py: SOAP 1.2, WS-Security PasswordDigest verified) (issue #20)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.io.commands import Simulate
from tests.actions.onvif_peer import OnvifPeer, running_onvif
from tests.io.conftest import CLI, IoProc
from tests.network.conftest import NetworkProc, wait_until
from tests.recorders.conftest import (
    DIGEST,
    annotations_in,
    input_name,
    small_jpeg,
    the_alarm,
    write_recorders,
)


@pytest.fixture
def camera() -> Iterator[OnvifPeer]:
    """An ONVIF camera whose clock is an hour fast, with one relay output."""
    with running_onvif(small_jpeg(96, 72), clock_offset_s=3600.0) as peer:
        yield peer


def test_an_alarm_sets_the_onvif_relay_and_takes_the_onvif_snapshot(
    io_proc: IoProc, camera: OnvifPeer, tmp_path: Path
) -> None:
    doc = {
        "actions": [
            {
                "kind": "onvif-relay",
                "name": "Porch relay",
                "base_url": camera.url,
                "relay_token": "AlarmOut_0",
                "auth": DIGEST,
            }
        ],
        "cameras": [{"kind": "onvif", "camera": "Porch", "url": camera.url, "auth": DIGEST}],
        "links": {
            input_name(io_proc): {
                "on_alarm": ["Porch relay"],
                "on_clear": ["Porch relay"],
                "cameras": ["Porch"],
                "offsets_s": [0, 1],
            }
        },
    }
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: camera.relays["AlarmOut_0"] == "active", 20, "the relay active")
        wait_until(lambda: len(annotations_in(io_proc)) >= 3, 20, "three annotations")
        seq = the_alarm(io_proc)
        rows = annotations_in(io_proc, seq)
        told = next(e.detail for e in rows if e.state == "network-action")
        assert told is not None and told["ok"], told
        assert told["summary"] == "onvif-relay: relay AlarmOut_0 active"
        assert told["attempts"] == 1 and told.get("link") is None
        shots = [e.detail for e in rows if e.state == "snapshot"]
        digest = hashlib.sha256(camera.jpeg).hexdigest()
        assert sorted(s["offset_s"] for s in shots if s) == [0, 1]
        assert all(s and s["ok"] and s["sha256"] == digest for s in shots), shots
        assert all(s and (s["width"], s["height"]) == (96, 72) for s in shots)
        stored = io_proc.data_dir / "evidence" / digest[:2] / f"{digest}.jpg"
        assert stored.read_bytes() == camera.jpeg
        # the snapshot URI was asked for once; both grabs used it
        asked = [c.operation for c in camera.calls if c.operation == "GetSnapshotUri"]
        assert asked == ["GetSnapshotUri"]

        io_proc.client.send(Simulate(action="open", input=1))
        wait_until(lambda: camera.relays["AlarmOut_0"] == "inactive", 20, "the relay inactive")
        wait_until(lambda: len(annotations_in(io_proc)) >= 4, 20, "the clear's annotation")
        assert camera.refusals == []  # every token fresh on the camera's fast clock
        sets = [c for c in camera.calls if c.operation == "SetRelayOutputState"]
        assert [c.args["LogicalState"] for c in sets] == ["active", "inactive"]
        assert all(c.user == "admin" for c in sets)

        # the installer's test from the command line: the relay, then the camera
        data = ["--data-dir", str(io_proc.data_dir)]
        tested = subprocess.run(
            [*CLI, "network", "recorders-test", "Porch relay", *data],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tested.returncode == 0, tested.stderr
        assert "Porch relay alarm: done: relay AlarmOut_0 active (1 attempts" in tested.stdout
        assert "Porch relay clear: done: relay AlarmOut_0 inactive (1 attempts" in tested.stdout
        shot = subprocess.run(
            [*CLI, "network", "recorders-test", "Porch", *data],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shot.returncode == 0, shot.stderr
        assert shot.stdout.startswith("Porch: snapshot 96x72, ")
    finally:
        network.close()
