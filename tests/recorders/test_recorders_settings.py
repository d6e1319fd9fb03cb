"""The recorders configured from the API (#20): the real io process on simulated pins,
the real network process (the stored settings' ``recorders`` section applied without
a restart), the web API in front, and the recorder peer with real Digest
authentication (tests/actions/peer.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.auth.store import Role
from app.io.commands import Simulate
from tests.actions.peer import Peer, Reply
from tests.io.conftest import IoProc
from tests.network.conftest import NetworkProc, bearer, wait_until
from tests.recorders.conftest import (
    DIGEST,
    ISAPI_OK,
    PICTURE,
    START,
    STOP,
    annotations_in,
    faults,
    free_port,
    input_name,
    log_events,
    seen,
    the_alarm,
    write_recorders,
)

MASK = "********"
SETTINGS = "/api/v1/integrations/settings"
PASSWORD = str(DIGEST["password"])


def recorders(io: IoProc, nvr: Peer, **link: Any) -> dict[str, Any]:
    """An NVR recording channel 3 on input 1's alarm, with its snapshot picture."""
    return {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": nvr.url,
                "channel": 3,
                "auth": DIGEST,
            }
        ],
        "cameras": [{"kind": "http", "camera": "CH3", "url": nvr.url + PICTURE, "auth": DIGEST}],
        "links": {
            input_name(io): {
                "on_alarm": ["NVR CH3"],
                "on_clear": ["NVR CH3"],
                "cameras": ["CH3"],
                "offsets_s": [0],
                **link,
            }
        },
    }


def cursor(network: NetworkProc) -> int:
    """The recorders' durable cursor (-1: no runner)."""
    status = network.status().recorders
    return -1 if status is None else int(status["cursor"])


def settings_with(section: dict[str, Any]) -> dict[str, Any]:
    return {"mqtt": {}, "webhooks": [], "mail": {}, "apprise": {}, "sia": {}, "recorders": section}


def test_recorders_set_through_the_api_run_on_an_alarm_without_a_restart(
    io_proc: IoProc, network: NetworkProc, web: TestClient, tokens: dict[Role, str], nvr: Peer
) -> None:
    admin, viewer = bearer(tokens[Role.ADMIN]), bearer(tokens[Role.VIEWER])
    network.start()
    pid = network.proc.pid if network.proc else None
    shown = web.get(SETTINGS, headers=admin).json()
    nothing = {"origin": None, "variable": None, "document": None, "status": None}
    assert shown["recorders"] == nothing
    assert shown["document"]["recorders"]["actions"] == []

    doc = settings_with(recorders(io_proc, nvr))
    assert web.put(SETTINGS, headers=viewer, json=doc).status_code == 403
    reply = web.put(SETTINGS, headers=admin, json=doc)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["applied"]["added"] == ["recorders"]
    assert answer["recorders"]["origin"] == "stored"
    assert answer["recorders"]["status"]["name"] == "recorders"
    stored = answer["document"]["recorders"]
    assert stored["actions"][0]["auth"]["password"] == MASK
    assert stored["cameras"][0]["auth"]["password"] == MASK

    io_proc.client.send(Simulate(action="close", input=1))
    wait_until(lambda: seen(nvr, "PUT", START), 20, "the NVR told to record")
    wait_until(lambda: len(annotations_in(io_proc)) >= 2, 20, "the action's and snapshot's rows")
    seq = the_alarm(io_proc)
    rows = {e.state: e for e in annotations_in(io_proc, seq)}
    assert rows["network-action"].source == "NVR CH3"
    assert rows["network-action"].detail and rows["network-action"].detail["ok"] is True
    assert rows["snapshot"].detail and rows["snapshot"].detail["ok"] is True
    assert network.proc is not None and network.proc.pid == pid  # not restarted
    wait_until(lambda: cursor(network) >= seq, 20, "the cursor past the alarm")

    # the page's document sent back (masked, lists reordered, the camera dropped from
    # the link): the passwords are kept, the runner restarts on its cursor, and the
    # clear goes to the NVR with the stored password
    again = reply.json()["document"]
    again["recorders"]["links"][input_name(io_proc)]["cameras"] = []
    again["recorders"]["actions"].insert(
        0,
        {"kind": "hikvision-output", "name": "Siren out", "base_url": nvr.url, "auth": DIGEST},
    )
    changed = web.put(SETTINGS, headers=admin, json=again)
    assert changed.status_code == 200, changed.text
    assert changed.json()["applied"]["changed"] == ["recorders"]
    status = changed.json()["recorders"]["status"]
    assert status["cursor"] >= seq  # the durable cursor kept
    io_proc.client.send(Simulate(action="open", input=1))
    wait_until(lambda: seen(nvr, "PUT", STOP), 20, "the NVR told to stop (the new runner)")
    assert network.proc is not None and network.proc.pid == pid

    # the password is in no answer, no export, no log row, no network process log
    texts = [
        web.get(SETTINGS, headers=admin).text,
        changed.text,
        web.get("/api/v1/config", headers=admin).text,
        web.get("/api/v1/events", params={"limit": 500}, headers=admin).text,
        json.dumps([e.detail for e in log_events(io_proc)]),
        (network.data_dir.parent / "network.log").read_text(),
    ]
    assert not [t for t in texts if PASSWORD in t]

    # the export imported onto the same appliance: the masked passwords keep theirs
    exported = web.get("/api/v1/config", headers=admin).json()
    assert exported["network"]["recorders"]["actions"][1]["auth"]["password"] == MASK
    imported = web.put("/api/v1/config", headers=admin, json=exported)
    assert imported.status_code == 200, imported.text
    assert imported.json()["network_applied"] is True
    assert web.post("/api/v1/integrations/recorders/NVR CH3/test", headers=admin).is_success

    # emptied: the runner stops and the status says so
    emptied = web.put(SETTINGS, headers=admin, json=settings_with({}))
    assert emptied.status_code == 200
    assert emptied.json()["applied"]["removed"] == ["recorders"]
    assert emptied.json()["recorders"]["status"] is None
    assert network.status().recorders is None


def test_a_wrong_section_is_refused_naming_each_field(
    io_proc: IoProc, network: NetworkProc, web: TestClient, tokens: dict[Role, str], nvr: Peer
) -> None:
    admin = bearer(tokens[Role.ADMIN])
    network.start()
    section = recorders(io_proc, nvr)
    section["links"]["No such input"] = {"on_alarm": ["NVR CH3"]}
    wrong = web.put(SETTINGS, headers=admin, json=settings_with(section))
    assert wrong.status_code == 422
    problems = {p["field"]: p["message"] for p in wrong.json()["problems"]}
    assert "no input 'No such input'" in problems["recorders.links.No such input"]
    assert input_name(io_proc) in problems["recorders.links.No such input"]

    section = recorders(io_proc, nvr, on_alarm=["NVR CH9"], cameras=["CH9"])
    wrong = web.put(SETTINGS, headers=admin, json=settings_with(section))
    problems = {p["field"]: p["message"] for p in wrong.json()["problems"]}
    link = f"recorders.links.{input_name(io_proc)}"
    assert problems[f"{link}.on_alarm"] == "no action 'NVR CH9' (the actions: NVR CH3)"
    assert problems[f"{link}.cameras"] == "no camera 'CH9' (the cameras: CH3)"

    # a mask with nothing stored behind it (an export from another appliance)
    section = recorders(io_proc, nvr)
    section["actions"][0]["auth"] = {**DIGEST, "password": MASK}
    section["cameras"] = [{"kind": "rtsp", "camera": "CH3", "url": f"rtsp://u:{MASK}@h/1"}]
    wrong = web.put(SETTINGS, headers=admin, json=settings_with(section))
    assert wrong.status_code == 422
    fields = {p["field"] for p in wrong.json()["problems"]}
    assert fields == {"recorders.actions.0.auth.password", "recorders.cameras.0.url"}
    assert web.get(SETTINGS, headers=admin).json()["version"] == 0  # nothing stored


def test_the_test_route_answers_what_the_recorder_did(
    io_proc: IoProc, network: NetworkProc, web: TestClient, tokens: dict[Role, str], nvr: Peer
) -> None:
    admin, viewer = bearer(tokens[Role.ADMIN]), bearer(tokens[Role.VIEWER])
    network.start()
    section = recorders(io_proc, nvr)
    section["actions"].append(
        {
            "kind": "hikvision-record",
            "name": "Wrong password",
            "base_url": nvr.url,
            "channel": 3,
            "auth": {**DIGEST, "password": "not-it"},
        }
    )
    assert web.put(SETTINGS, headers=admin, json=settings_with(section)).status_code == 200
    before = max(e.seq for e in log_events(io_proc))

    url = "/api/v1/integrations/recorders/{}/test"
    assert web.post(url.format("NVR CH3"), headers=viewer).status_code == 403
    done = web.post(url.format("NVR CH3"), headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["alarm"]["ok"] is True and done.json()["clear"]["ok"] is True
    assert seen(nvr, "PUT", START) and seen(nvr, "PUT", STOP)

    shot = web.post(url.format("CH3"), headers=admin)
    assert shot.status_code == 200, shot.text
    assert shot.json()["snapshot"].startswith("64x48, ")

    refused = web.post(url.format("Wrong password"), headers=admin)
    assert refused.status_code == 502
    assert "401" in refused.json()["error"]

    unknown = web.post(url.format("Nothing"), headers=admin)
    assert unknown.status_code == 404
    assert "NVR CH3" in unknown.json()["error"]
    # a test is not logged: no annotation, no event of the recorders' (a fault or a
    # security row from elsewhere may be)
    after = [e for e in log_events(io_proc) if e.seq > before]
    assert not [e for e in after if e.kind != "security" and e.source != "network"], after


def test_the_file_wins_shown_read_only_and_a_stored_section_is_refused(
    io_proc: IoProc, web: TestClient, tokens: dict[Role, str], nvr: Peer, tmp_path: Path
) -> None:
    admin = bearer(tokens[Role.ADMIN])
    file = write_recorders(tmp_path / "recorders.json", recorders(io_proc, nvr))
    from_file = NetworkProc(io_proc.data_dir, {"ALARMBRIDGE_RECORDERS_FILE": str(file)})
    try:
        from_file.start()
        shown = web.get(SETTINGS, headers=admin)
        answer = shown.json()
        assert {"name": "recorders", "variable": "ALARMBRIDGE_RECORDERS_FILE"} in answer[
            "environment"
        ]
        assert answer["recorders"]["origin"] == "environment"
        assert answer["recorders"]["variable"] == "ALARMBRIDGE_RECORDERS_FILE"
        assert answer["recorders"]["document"]["actions"][0]["auth"]["password"] == MASK
        assert answer["recorders"]["status"]["name"] == "recorders"
        assert PASSWORD not in shown.text

        wrong = web.put(SETTINGS, headers=admin, json=settings_with(recorders(io_proc, nvr)))
        assert wrong.status_code == 422
        (problem,) = wrong.json()["problems"]
        assert problem["field"] == "recorders"
        assert "ALARMBRIDGE_RECORDERS_FILE" in problem["message"]
        # an empty section beside the file is fine, and the file's recorders run on
        assert web.put(SETTINGS, headers=admin, json=settings_with({})).status_code == 200
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: seen(nvr, "PUT", START), 20, "the file's NVR told to record")
    finally:
        from_file.close()


def test_a_change_while_a_request_is_in_flight_sends_it_again_from_the_cursor(
    io_proc: IoProc, network: NetworkProc, web: TestClient, tokens: dict[Role, str], nvr: Peer
) -> None:
    """The runner is replaced while the NVR has not answered yet: the old request is
    cancelled, the cursor had not moved past the alarm, so the new runner sends it
    again (at least once) and its answer is logged."""
    admin = bearer(tokens[Role.ADMIN])
    nvr.answer(
        "PUT",
        START,
        Reply(200, ISAPI_OK, "application/xml", delay_s=6),
        Reply(200, ISAPI_OK, "application/xml"),
    )
    network.start()
    section = recorders(io_proc, nvr, cameras=[])
    section["actions"][0]["timeout_s"] = 20
    assert web.put(SETTINGS, headers=admin, json=settings_with(section)).status_code == 200
    io_proc.client.send(Simulate(action="close", input=1))
    wait_until(lambda: seen(nvr, "PUT", START), 20, "the NVR asked (it answers in 6 s)")
    seq = the_alarm(io_proc)
    assert cursor(network) < seq

    section["actions"][0]["retries"] = 3  # any change restarts the runner
    reply = web.put(SETTINGS, headers=admin, json=settings_with(section))
    assert reply.status_code == 200, reply.text
    assert reply.json()["applied"]["changed"] == ["recorders"]
    wait_until(lambda: len(seen(nvr, "PUT", START)) >= 2, 20, "the request sent again")
    wait_until(lambda: annotations_in(io_proc, seq), 20, "the answer logged")
    (row,) = [e for e in annotations_in(io_proc, seq) if e.state == "network-action"]
    assert row.detail and row.detail["ok"] is True and row.detail["phase"] == "alarm"
    wait_until(lambda: cursor(network) >= seq, 20, "the cursor past it")


def test_fixing_a_failing_recorder_on_the_page_clears_its_fault(
    io_proc: IoProc, network: NetworkProc, web: TestClient, tokens: dict[Role, str], nvr: Peer
) -> None:
    """An action failing three alarms in a row raises recorders-failing; saving the
    fixed address restarts the runner, clears the fault, and the next alarm gets through."""
    admin = bearer(tokens[Role.ADMIN])
    network.start()
    section = recorders(io_proc, nvr, cameras=[])
    section["actions"][0]["base_url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    section["actions"][0]["retries"] = 0
    assert web.put(SETTINGS, headers=admin, json=settings_with(section)).status_code == 200
    for action in ("close", "open", "close", "open", "close"):
        io_proc.client.send(Simulate(action=action, input=1))
        time.sleep(0.3)
    wait_until(lambda: "network:recorders-failing" in faults(io_proc), 30, "the fault")
    assert faults(io_proc)["network:recorders-failing"].startswith("NVR CH3: could not reach")

    section["actions"][0]["base_url"] = nvr.url
    assert web.put(SETTINGS, headers=admin, json=settings_with(section)).status_code == 200
    wait_until(lambda: "network:recorders-failing" not in faults(io_proc), 20, "cleared")
    io_proc.client.send(Simulate(action="open", input=1))
    time.sleep(0.3)
    io_proc.client.send(Simulate(action="close", input=1))
    wait_until(lambda: seen(nvr, "PUT", START), 20, "the fixed NVR told to record")
