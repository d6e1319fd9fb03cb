"""An alarm sets its recorders going: a real io process on simulated pins, the real
network process, a recorder peer checking each documented request with real Digest
authentication, and the web app reading what came back into the log (issue #20)."""

from __future__ import annotations

import functools
import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.io.commands import Simulate
from app.network.outbox import Outbox
from app.settings import Settings
from app.web import create_app
from tests.actions.peer import Peer, Reply, running_peer
from tests.evidence.conftest import RtspCamera
from tests.io.conftest import CLI, IoProc
from tests.network.conftest import NetworkProc, wait_until
from tests.recorders.conftest import (
    annotations_in,
    input_name,
    log_events,
    small_jpeg,
    write_recorders,
)

# Hikvision ISAPI's answer to a command it carried out (ISAPI Core Protocol, ResponseStatus)
ISAPI_OK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">\n'
    b"<requestURL>/ISAPI</requestURL>\n<statusCode>1</statusCode>\n"
    b"<statusString>OK</statusString>\n<subStatusCode>ok</subStatusCode>\n</ResponseStatus>\n"
)
START = "/ISAPI/ContentMgmt/record/control/manual/start/tracks/301"
STOP = "/ISAPI/ContentMgmt/record/control/manual/stop/tracks/301"
PICTURE = "/ISAPI/Streaming/channels/301/picture"
FRIGATE_ID = "1733.5-abc"
DIGEST = {"scheme": "digest", "user": "admin", "password": "s3cret-Pass"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


@pytest.fixture
def nvr() -> Iterator[Peer]:
    """A Hikvision NVR: manual recording on channel 3 and its snapshot picture, Digest."""
    with running_peer("digest") as peer:
        peer.answer("PUT", START, Reply(200, ISAPI_OK, "application/xml"))
        peer.answer("PUT", STOP, Reply(200, ISAPI_OK, "application/xml"))
        peer.answer("GET", PICTURE, Reply(200, small_jpeg(), "image/jpeg"))
        yield peer


@pytest.fixture
def frigate() -> Iterator[Peer]:
    """Frigate's HTTP API: create a manual event, end it (Frigate HTTP API docs)."""
    created = {"success": True, "message": "Successfully created event.", "event_id": FRIGATE_ID}
    ended = {"success": True, "message": "Event successfully ended."}
    with running_peer() as peer:
        peer.answer(
            "POST",
            "/api/events/front/alarm/create",
            Reply(200, json.dumps(created).encode(), "application/json"),
        )
        peer.answer("PUT", f"/api/events/{FRIGATE_ID}/end", Reply(200, json.dumps(ended).encode()))
        yield peer


def recorders_doc(io: IoProc, nvr: Peer, frigate: Peer, **extra: Any) -> dict[str, Any]:
    return {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": nvr.url,
                "channel": 3,
                "auth": DIGEST,
            },
            {
                "kind": "frigate-event",
                "name": "Frigate front",
                "base_url": frigate.url,
                "camera": "front",
            },
        ],
        "cameras": [{"kind": "http", "camera": "CH3", "url": nvr.url + PICTURE, "auth": DIGEST}],
        "links": {
            input_name(io): {
                "on_alarm": ["NVR CH3", "Frigate front"],
                "on_clear": ["NVR CH3", "Frigate front"],
                "cameras": ["CH3"],
                "offsets_s": [0, 1],
            }
        },
        **extra,
    }


def annotated(io: IoProc, count: int) -> bool:
    return len(annotations_in(io)) >= count


def faults(io: IoProc) -> dict[str, str]:
    return {f["key"]: f["message"] for f in io.client.request("status")["faults"]}


def seen(peer: Peer, method: str, target: str) -> list[Any]:
    return [s for s in peer.authorized_requests() if (s.method, s.target) == (method, target)]


def the_alarm(io: IoProc) -> int:
    name = input_name(io)
    found = [e for e in log_events(io) if e.kind == "input" and e.channel == name]
    assert found and found[-1].state == "alarm", [(e.state, e.channel) for e in found]
    return found[-1].seq


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
        assert body["links"] == [link]
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
    assert none == {"event": 1, "actions": [], "snapshots": [], "skipped": [], "links": []}


def test_a_peer_that_is_down_is_annotated_and_delays_nothing_else(
    io_proc: IoProc, nvr: Peer, tmp_path: Path
) -> None:
    dead = free_port()  # nothing listens: every attempt is refused
    doc = {
        "actions": [
            {
                "kind": "dahua-output",
                "name": "Dead DVR",
                "base_url": f"http://127.0.0.1:{dead}",
                "retries": 2,
            },
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": nvr.url,
                "channel": 3,
                "auth": DIGEST,
            },
        ],
        "links": {input_name(io_proc): {"on_alarm": ["Dead DVR", "NVR CH3"]}},
    }
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: len(annotations_in(io_proc)) >= 2, 30, "both annotations")
        seq = the_alarm(io_proc)
        rows = annotations_in(io_proc, seq)
        assert [e.source for e in rows] == ["NVR CH3", "Dead DVR"]  # the good one first
        good, bad = (e.detail or {} for e in rows)
        assert good["ok"] and good["attempts"] == 1
        assert not bad["ok"] and bad["attempts"] == 3
        assert f"could not reach http://127.0.0.1:{dead}" in bad["summary"]
        assert good["elapsed_ms"] < bad["elapsed_ms"]
        # the relay the input drives was not held back either: logged before any annotation
        outputs = [e for e in log_events(io_proc) if e.kind == "output" and e.seq > seq]
        assert outputs and outputs[0].seq < rows[0].seq
        # failing three times in a row is a fault (on the LED, in the status), named
        assert "network:recorders-failing" not in faults(io_proc)
        for action in ("open", "close", "open", "close"):
            io_proc.client.send(Simulate(action=action, input=1))
            time.sleep(0.3)
        wait_until(lambda: "network:recorders-failing" in faults(io_proc), 30, "the fault")
        assert faults(io_proc)["network:recorders-failing"].startswith("Dead DVR: could not reach")
    finally:
        network.close()


def test_an_alarm_too_old_when_its_turn_comes_is_skipped_not_sent(
    io_proc: IoProc, nvr: Peer, tmp_path: Path
) -> None:
    doc = {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": nvr.url,
                "channel": 3,
                "auth": DIGEST,
            }
        ],
        "links": {input_name(io_proc): {"on_alarm": ["NVR CH3"]}},
        "max_age_s": 10,
    }
    file = write_recorders(tmp_path / "recorders.json", doc)
    network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        network.start()  # makes the cursor at the log's end
        network.stop()
        io_proc.client.send(Simulate(action="close", input=1))  # while the process is down
        time.sleep(11)
        network.start()
        wait_until(lambda: annotations_in(io_proc), 20, "the skipped annotation")
        (row,) = annotations_in(io_proc, the_alarm(io_proc))
        assert row.state == "recorders-skipped" and row.source == "NVR CH3"
        assert "s old when its turn came" in (row.detail or {})["summary"]
        assert not seen(nvr, "PUT", START)
    finally:
        network.close()


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


def test_a_recorder_that_hangs_holds_back_only_its_own_requests(
    io_proc: IoProc, nvr: Peer, tmp_path: Path
) -> None:
    with running_peer() as hung:
        trigger = "/ISAPI/System/IO/outputs/1/trigger"
        hung.answer("PUT", trigger, Reply(200, ISAPI_OK, "application/xml", delay_s=10))
        doc = {
            "actions": [
                {
                    "kind": "hikvision-output",
                    "name": "Hung NVR",
                    "base_url": hung.url,
                    "timeout_s": 2,
                    "retries": 1,
                },
                {
                    "kind": "hikvision-record",
                    "name": "NVR CH3",
                    "base_url": nvr.url,
                    "channel": 3,
                    "auth": DIGEST,
                },
            ],
            "links": {input_name(io_proc): {"on_alarm": ["Hung NVR", "NVR CH3"]}},
        }
        file = write_recorders(tmp_path / "recorders.json", doc)
        network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
        try:
            network.start()
            for action in ("close", "open", "close"):  # two alarms, half a second apart
                io_proc.client.send(Simulate(action=action, input=1))
                time.sleep(0.5)
            wait_until(lambda: len(annotations_in(io_proc)) >= 4, 40, "four annotations")
            name = input_name(io_proc)
            alarms = [
                e.seq for e in log_events(io_proc) if e.channel == name and e.state == "alarm"
            ]
            assert len(alarms) == 2
            rows = annotations_in(io_proc)
            order = [(e.source, (e.detail or {})["event"]) for e in rows]
            # the good recorder heard of both alarms before the hung one's first timed out
            assert order.index(("NVR CH3", alarms[1])) < order.index(("Hung NVR", alarms[0]))
            hung_rows = [e.detail or {} for e in rows if e.source == "Hung NVR"]
            assert hung_rows[0]["ok"] is False and hung_rows[0]["attempts"] == 2
            assert "no answer within 2 s" in hung_rows[0]["summary"]
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


def test_the_failing_fault_clears_when_the_recorder_answers_again(
    io_proc: IoProc, tmp_path: Path
) -> None:
    with running_peer() as dvr:  # Dahua HTTP API: AlarmOut mode; 500 three times per alarm
        target = "/cgi-bin/configManager.cgi?action=setConfig&AlarmOut[0].Mode=1"
        dvr.answer("GET", target, *[Reply(500, b"Error")] * 9, Reply(200, b"OK"))
        action = {"kind": "dahua-output", "name": "DVR out", "base_url": dvr.url}
        doc = {"actions": [action], "links": {input_name(io_proc): {"on_alarm": ["DVR out"]}}}
        file = write_recorders(tmp_path / "recorders.json", doc)
        network = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
        try:
            network.start()
            for n in range(1, 5):  # three failing alarms, then one that gets through
                io_proc.client.send(Simulate(action="close", input=1))
                wait_until(functools.partial(annotated, io_proc, n), 30, f"alarm {n}")
                if n == 3:
                    wait_until(lambda: "network:recorders-failing" in faults(io_proc), 10)
                io_proc.client.send(Simulate(action="open", input=1))
                time.sleep(0.3)
            assert [(e.detail or {})["ok"] for e in annotations_in(io_proc)] == [False] * 3 + [True]
            wait_until(lambda: "network:recorders-failing" not in faults(io_proc), 10, "cleared")
        finally:
            network.close()
