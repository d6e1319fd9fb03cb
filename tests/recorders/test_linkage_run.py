"""An alarm sets its recorders going: a real io process on simulated pins, the real
network process, a recorder peer checking each documented request with real Digest
authentication, and the web app reading what came back into the log (issue #20)."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from fastapi.testclient import TestClient

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.io.commands import Simulate
from app.network.outbox import Outbox
from app.settings import Settings
from app.web import create_app
from tests.actions.peer import Peer
from tests.evidence.conftest import RtspCamera
from tests.io.conftest import CLI, IoProc
from tests.network.conftest import NetworkProc, wait_until
from tests.recorders.conftest import (
    DIGEST,
    FRIGATE_ID,
    PICTURE,
    START,
    STOP,
    annotations_in,
    input_name,
    log_events,
    recorders_doc,
    seen,
    the_alarm,
    write_recorders,
)


@pytest.fixture
def tokens(io_proc: IoProc) -> dict[Role, str]:
    store = AuthStore(io_proc.data_dir / "auth.db")
    try:
        store.create_first_admin("admin", hash_password("a long admin passphrase"))
        viewer, _ = store.new_token("viewer", Role.VIEWER, "admin")
    finally:
        store.close()
    return {Role.VIEWER: viewer}


@pytest.fixture
def web(io_proc: IoProc, tokens: dict[Role, str]) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=io_proc.data_dir, pins="mock", allowed_hosts=["testserver"], timezone="UTC"
    )
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {tokens[Role.VIEWER]}"
        yield client


def test_an_alarm_runs_its_actions_and_snapshots_and_the_event_page_shows_them(
    io_proc: IoProc, nvr: Peer, frigate: Peer, web: TestClient, tmp_path: Path
) -> None:
    file = write_recorders(tmp_path / "recorders.json", recorders_doc(io_proc, nvr, frigate))
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: seen(nvr, "PUT", START), 20, "the NVR told to record")
        wait_until(lambda: len(annotations_in(io_proc)) >= 4, 20, "four annotations")
        seq = the_alarm(io_proc)
        rows = annotations_in(io_proc, seq)
        actions = {e.source: e for e in rows if e.state == "network-action"}
        assert set(actions) == {"NVR CH3", "Frigate front"}
        assert all(e.detail and e.detail["ok"] for e in actions.values())
        told_frigate = actions["Frigate front"].detail or {}
        assert told_frigate["ref"] == FRIGATE_ID
        link = f"{frigate.url}/api/events/{FRIGATE_ID}/clip.mp4"
        assert told_frigate["link"] == link
        # the NVR's playback: channel 3's main track from 10 s before the alarm (UTC recorder)
        alarm_row = next(e for e in log_events(io_proc) if e.seq == seq)
        start = datetime.fromtimestamp(alarm_row.utc_us / 1e6 - 10, tz=UTC)
        playback = f"rtsp://127.0.0.1:554/Streaming/tracks/301?starttime={start:%Y%m%dT%H%M%S}Z"
        assert (actions["NVR CH3"].detail or {})["link"] == playback
        assert all(e.seq > seq and e.channel == input_name(io_proc) for e in rows)
        shots = [e.detail for e in rows if e.state == "snapshot"]
        assert sorted(s["offset_s"] for s in shots if s) == [0, 1]
        image = nvr.take("GET", PICTURE).body
        digest = hashlib.sha256(image).hexdigest()
        for shot in shots:
            assert shot and shot["ok"] and shot["sha256"] == digest and shot["size"] == len(image)
        stored = io_proc.data_dir / "evidence" / digest[:2] / f"{digest}.jpg"
        assert stored.read_bytes() == image
        for readable in (stored.parent.parent, stored.parent):  # the web user's group reads
            assert readable.stat().st_mode & 0o777 == 0o750
        assert stored.stat().st_mode & 0o040

        # the +1 s snapshot was taken about a second after the alarm, not at once
        alarm = next(e for e in log_events(io_proc) if e.seq == seq)
        later = next(s for s in shots if s and s["offset_s"] == 1)
        assert later["taken_utc_us"] - alarm.utc_us >= 900_000

        # the API and the event page
        body = web.get(f"/api/v1/events/{seq}/annotations").json()
        assert [a["name"] for a in body["actions"]] == [
            e.source for e in rows if e.state == "network-action"
        ]
        assert sorted(body["links"]) == sorted([link, playback])
        assert {s["sha256"] for s in body["snapshots"]} == {digest}
        served = web.get(body["snapshots"][0]["image"])
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert served.content == image
        page = web.get(f"/events/{seq}", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "Recorders and evidence" in page.text
        assert f"/api/v1/evidence/{digest}.jpg" in page.text
        assert link in page.text
        assert f'href="{playback}"' in page.text
        assert "NVR CH3" in page.text

        # the clear: recording stopped, the Frigate event ended by the id it gave
        io_proc.client.send(Simulate(action="open", input=1))
        wait_until(lambda: seen(nvr, "PUT", STOP), 20, "the NVR told to stop")
        wait_until(
            lambda: seen(frigate, "PUT", f"/api/events/{FRIGATE_ID}/end"), 20, "Frigate's end"
        )
        wait_until(lambda: len(annotations_in(io_proc)) >= 6, 20, "the clear's annotations")
        status = network.client.request("status")["recorders"]
        assert status["pending_events"] == 0 and status["failing"] == {}
        assert status["cursor"] == status["read_seq"] >= seq
        # the cursor is durable, past the alarm and its clear
        name = input_name(io_proc)
        clear = [e.seq for e in log_events(io_proc) if e.channel == name and e.state == "normal"]
        outbox = Outbox(io_proc.data_dir / "network.db")
        try:
            assert outbox.cursor("recorders", start_at=0).seq >= clear[-1] > seq
        finally:
            outbox.close()
    finally:
        network.close()


def test_evidence_is_served_by_strict_hash_to_a_viewer_only(
    io_proc: IoProc, web: TestClient
) -> None:
    assert web.get("/api/v1/evidence/" + "0" * 64 + ".jpg").status_code == 404
    for wrong in ("../../alarmbridge.db", "A" * 64 + ".jpg", "0" * 63 + ".jpg", "%2e%2e.jpg"):
        assert web.get(f"/api/v1/evidence/{wrong}").status_code in (404, 422), wrong
    anonymous = web.get("/api/v1/evidence/" + "0" * 64 + ".jpg", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    none = web.get("/api/v1/events/1/annotations").json()
    assert none == {
        "event": 1,
        "relays": [],  # event 1 is the io process's start: no input change
        "actions": [],
        "snapshots": [],
        "skipped": [],
        "links": [],
    }


def test_a_wrong_recorders_file_stops_the_network_process_with_one_clear_line(
    io_proc: IoProc, tmp_path: Path
) -> None:
    doc = {"links": {"No such input": {"on_alarm": ["Nothing"]}}}
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        with pytest.raises(AssertionError, match="network process exited"):
            network.start()
    finally:
        network.close()
    said = (io_proc.data_dir.parent / "network.log").read_text()
    assert (
        "links.No such input.on_alarm: no action 'Nothing' (the actions: none is configured)"
        in said
    )
    assert "links: no input 'No such input'" in said


def test_an_rtsp_camera_snapshot_is_stored_on_alarm(
    io_proc: IoProc, rtsp_camera: RtspCamera, tmp_path: Path
) -> None:
    doc = {
        "cameras": [{"kind": "rtsp", "camera": "Gate", "url": rtsp_camera.url, "timeout_s": 15}],
        "links": {input_name(io_proc): {"cameras": ["Gate"], "offsets_s": [0]}},
    }
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: annotations_in(io_proc), 30, "the snapshot annotation")
        (row,) = annotations_in(io_proc, the_alarm(io_proc))
        detail = row.detail or {}
        assert detail["ok"], detail
        assert (detail["width"], detail["height"]) == (rtsp_camera.width, rtsp_camera.height)
        stored = io_proc.data_dir / "evidence" / detail["sha256"][:2] / f"{detail['sha256']}.jpg"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == detail["sha256"]
    finally:
        network.close()


def test_a_shared_recording_stops_when_the_last_linked_input_clears(
    io_proc: IoProc, nvr: Peer, tmp_path: Path
) -> None:
    first, second = input_name(io_proc, 1), input_name(io_proc, 2)
    link = {"on_alarm": ["NVR CH3"], "on_clear": ["NVR CH3"]}
    action = {"kind": "hikvision-record", "name": "NVR CH3", "base_url": nvr.url, "channel": 3}
    doc = {"actions": [action | {"auth": DIGEST}], "links": {first: link, second: link}}
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()
        steps: list[tuple[Literal["close", "open"], int]] = [
            ("close", 1),
            ("close", 2),
            ("open", 1),
        ]
        for act, n in steps:
            io_proc.client.send(Simulate(action=act, input=n))
            time.sleep(0.5)
        wait_until(lambda: len(annotations_in(io_proc)) >= 3, 20, "three annotations")
        held = annotations_in(io_proc)[-1].detail or {}
        assert (
            held["phase"] == "clear" and held["summary"] == f"clear held: {second} still in alarm"
        )
        assert len(seen(nvr, "PUT", START)) == 2 and not seen(nvr, "PUT", STOP)
        io_proc.client.send(Simulate(action="open", input=2))
        wait_until(lambda: seen(nvr, "PUT", STOP), 20, "the recording stopped")
        wait_until(lambda: len(annotations_in(io_proc)) >= 4, 20, "the stop's annotation")
        assert (annotations_in(io_proc)[-1].detail or {})["summary"] == "hikvision-record: OK"
    finally:
        network.close()


def test_the_installer_tests_an_action_and_a_camera_from_the_command_line(
    io_proc: IoProc, nvr: Peer, frigate: Peer, tmp_path: Path
) -> None:
    file = write_recorders(tmp_path / "recorders.json", recorders_doc(io_proc, nvr, frigate))
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    data = ["--data-dir", str(io_proc.data_dir)]
    try:
        network.start()
        before = len(log_events(io_proc))

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            argv = [*CLI, "network", "recorders-test", *args, *data]
            return subprocess.run(argv, capture_output=True, text=True, timeout=60)

        told = cli("Frigate front")
        assert told.returncode == 0, told.stderr
        assert "Frigate front alarm: done: Successfully created event. (1 attempts" in told.stdout
        assert "Frigate front clear: done: Event successfully ended. (1 attempts" in told.stdout
        shown = subprocess.run(
            [*CLI, "network", "status", *data], capture_output=True, text=True, timeout=30
        )
        assert "recorders: done up to seq " in shown.stdout, shown.stdout + shown.stderr
        assert seen(frigate, "PUT", f"/api/events/{FRIGATE_ID}/end")  # ended by the id it gave
        shot = cli("CH3")
        assert shot.returncode == 0, shot.stderr
        assert shot.stdout.startswith("CH3: snapshot 64x48, ")
        wrong = cli("CH9")
        assert wrong.returncode != 0
        assert "no action or camera 'CH9' (actions: NVR CH3, Frigate front; cameras: CH3)" in (
            wrong.stderr + wrong.stdout
        )
        assert len(log_events(io_proc)) == before  # a test is not an event
    finally:
        network.close()
