"""Issue #19 through the API and the pages, against a real io process on simulated
pins and a real SQLite file: follow-then-hold, the recorder profile, durations in
seconds, bypass and arming overrides (kept across a restart of the io process)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.io.process import IoProcess
from app.settings import Settings
from tests.web.conftest import wait_for
from tests.web.test_api import events, sim, status


def test_follow_then_hold_through_the_api(client: TestClient) -> None:
    out = client.get("/api/v1/outputs/1").json()
    assert out["recorder"] == "generic"
    wrong = client.put("/api/v1/outputs/1", json={**out, "hold": "follow", "hold_ms": 30_000})
    assert wrong.status_code == 422
    assert "choose hold 'follow-hold'" in wrong.json()["error"]
    missing = client.put("/api/v1/outputs/1", json={**out, "hold": "follow-hold", "hold_ms": 0})
    assert missing.status_code == 422 and "needs hold_ms" in missing.json()["error"]
    held = {**out, "hold": "follow-hold", "hold_ms": 1500}
    assert client.put("/api/v1/outputs/1", json=held).json() == held
    in1 = client.get("/api/v1/inputs/1").json()
    client.put("/api/v1/inputs/1", json={**in1, "response_ms": 0})
    sim(client, 1, True)
    wait_for(lambda: status(client)["outputs"][0]["active"])
    sim(client, 1, False)
    holding = wait_for(lambda: status(client)["outputs"][0]["holding"])
    assert holding is True
    assert status(client)["outputs"][0]["active"] is True

    def states() -> list[str]:
        return [e["state"] for e in reversed(events(client, kind="output", channel="OUT1"))]

    wait_for(lambda: states()[-1:] == ["idle"], timeout=5)  # 1.5 s after the alarm cleared
    assert states()[-3:] == ["active", "holding", "idle"]
    holding_row = events(client, kind="output", channel="OUT1")[1]
    assert holding_row["source"] == "IN1" and holding_row["detail"]["hold_ms"] == 1500
    assert holding_row["summary"] == "held 1.5 s after the alarm cleared"


def test_a_stored_follow_with_a_hold_time_still_starts(settings: Settings) -> None:
    """A database from before follow-hold, with hold follow + hold_ms: the io process
    starts on it (no config fault) and the output keeps following."""
    first = IoProcess(settings)
    first.start()
    doc = first.engine.config.model_dump(mode="json")
    first.stop()
    doc["outputs"][0]["hold_ms"] = 30_000  # as older versions stored it
    db = create_engine(f"sqlite:///{settings.db_path}")
    with db.begin() as conn:
        conn.execute(text("UPDATE config SET body = :b WHERE id = 1"), {"b": json.dumps(doc)})
    db.dispose()
    again = IoProcess(settings)
    again.start()
    try:
        assert again.engine.config.outputs[0].hold == "follow"
        assert again.engine.config.outputs[0].hold_ms == 0
        assert again.engine.faults == {}
    finally:
        again.stop()


def test_the_outputs_page_speaks_seconds_and_the_recorders_words(client: TestClient) -> None:
    out = client.get("/api/v1/outputs/2").json()
    avtech = {**out, "recorder": "avtech", "hold": "fixed", "hold_ms": 10_000}
    assert client.put("/api/v1/outputs/2", json=avtech).status_code == 200
    page = client.get("/outputs", headers={"Accept": "text/html"}).text
    assert 'name="hold_ms" value="10"' in page  # seconds, not 10000
    assert 'data-type="sec-ms"' in page
    assert '<option value="10" selected>10 s</option>' in page
    assert "set the DVR input to NO" not in page  # the old, wrong advice for AVTECH
    assert re.search(
        r"AVTECH \(and Velleman DVR4L5\): in .*, set alarm input CH2 to\s+&#34;N\.C\.&#34;", page
    )
    profiles = re.search(
        r'<script type="application/json" id="recorder-profiles">(.*?)</script>', page
    )
    assert profiles is not None
    assert json.loads(profiles.group(1))["hikvision"]["close"].startswith('"N.O."')
    bad = client.put("/api/v1/outputs/2", json={**out, "recorder": "sony"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "recorder"


def test_the_dashboard_start_picker_has_10_s_and_a_custom_time(client: TestClient) -> None:
    page = client.get("/", headers={"Accept": "text/html"}).text
    assert '<option value="10">10 s</option>' in page
    assert 'data-custom-duration-for="1"' in page
    started = client.post("/api/v1/outputs/1/start", json={"duration_s": 12.5})
    assert started.status_code == 200
    start = wait_for(lambda: events(client, kind="operator"))[0]
    assert start["detail"]["duration_ms"] == 12_500


def overrides(client: TestClient) -> dict[str, Any]:
    found: dict[str, Any] = status(client)["overrides"]
    return found


def test_bypass_an_input_for_hours(client: TestClient) -> None:
    in1 = client.get("/api/v1/inputs/1").json()
    client.put("/api/v1/inputs/1", json={**in1, "response_ms": 0})
    reply = client.post("/api/v1/inputs/1/bypass", json={"hours": 4, "reason": "new PIR"})
    assert reply.status_code == 200, reply.text
    bypass = reply.json()["overrides"]["bypass"][0]
    assert (bypass["input"], bypass["name"], bypass["by"], bypass["reason"]) == (
        1,
        "IN1",
        "token:tests",
        "new PIR",
    )
    hours = (bypass["until_utc_us"] - time.time() * 1e6) / 3600e6
    assert 3.99 < hours <= 4
    sim(client, 1, True)
    wait_for(lambda: events(client, kind="input", channel="IN1"))
    row = wait_for(lambda: events(client, kind="input", channel="IN1"))[0]
    assert row["state"] == "alarm-bypassed"
    assert status(client)["outputs"][0]["active"] is False
    logged = events(client, kind="operator")[0]
    assert (logged["state"], logged["channel"], logged["source"]) == (
        "bypass",
        "IN1",
        "token:tests",
    )
    assert logged["detail"]["until"] == bypass["until"]
    assert (
        logged["summary"].startswith("drives nothing until ") and "(new PIR)" in logged["summary"]
    )
    assert row["summary"] == "bypassed: its outputs were not driven"
    page = client.get("/", headers={"Accept": "text/html"}).text
    assert "<strong>IN1</strong> bypassed until" in page and "(new PIR)" in page
    timeline = client.get("/api/v1/timeline").json()
    row1 = next(r for r in timeline["rows"] if r["section"] == "input" and r["number"] == 1)
    assert row1["segments"][0]["state"] == "bypassed"
    assert "bypassed" in timeline["legend"]
    ended = client.delete("/api/v1/inputs/1/bypass")
    assert ended.json()["overrides"]["bypass"] == []
    wait_for(lambda: status(client)["outputs"][0]["active"])  # IN1 is still in alarm
    assert client.post("/api/v1/inputs/9/bypass", json={"hours": 1}).status_code == 404
    long = client.post("/api/v1/inputs/1/bypass", json={"hours": 200})
    assert long.status_code == 422 and long.json()["problems"][0]["field"] == "hours"


def test_disarm_everything_for_an_hour_then_end_it(client: TestClient) -> None:
    reply = client.post("/api/v1/arming/override", json={"armed": False, "hours": 1})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["overrides"]["arming_override"]["armed"] is False
    assert all(i["armed"] is False for i in body["inputs"])
    timeline = client.get("/api/v1/timeline").json()
    assert {r["segments"][0]["state"] for r in timeline["rows"] if r["section"] == "input"} == {
        "override-disarmed"
    }
    page = client.get("/", headers={"Accept": "text/html"}).text
    assert "<strong>DISARMED</strong> until" in page
    assert client.delete("/api/v1/arming/override").json()["overrides"]["arming_override"] is None
    disarmed = wait_for(lambda: events(client, kind="input"))[-1]
    assert disarmed["state"] == "disarmed" and disarmed["source"] == "token:tests"
    assert disarmed["summary"] == "by an operator's arming override"
    override = next(e for e in events(client, kind="operator") if e["state"] == "arming-override")
    assert override["summary"].startswith("every alarm input disarmed until ")
    ended = wait_for(lambda: [e for e in events(client, kind="operator") if "ended" in e["state"]])
    assert (ended[0]["state"], ended[0]["source"]) == ("arming-override-ended", "token:tests")


def test_overrides_survive_a_restart_of_the_io_process(
    settings: Settings, io: IoProcess, client: TestClient
) -> None:
    assert client.post("/api/v1/inputs/2/bypass", json={"hours": 2}).status_code == 200
    assert (
        client.post("/api/v1/arming/override", json={"armed": True, "hours": 3}).status_code == 200
    )
    before = overrides(client)
    io.stop()
    again = IoProcess(settings)
    again.start()
    try:
        after = again.engine.override_status()
        assert [b["name"] for b in after["bypass"]] == ["IN2"]
        assert after["bypass"][0]["until"] == before["bypass"][0]["until"]
        assert after["arming_override"]["armed"] is True
    finally:
        again.stop()


def test_a_viewer_sees_the_overrides_and_the_walk_test_without_their_controls(
    settings: Settings, client: TestClient
) -> None:
    from app.auth.store import AuthStore, Role

    store = AuthStore(settings.auth_db_path)
    try:
        secret, _ = store.new_token("look", Role.VIEWER, "admin")
    finally:
        store.close()
    assert client.post("/api/v1/inputs/2/bypass", json={"hours": 1}).status_code == 200
    as_viewer = {"Accept": "text/html", "Authorization": f"Bearer {secret}"}
    dashboard = client.get("/", headers=as_viewer).text
    assert "<strong>IN2</strong> bypassed until" in dashboard
    assert "data-override-form" not in dashboard and "End now" not in dashboard
    walk = client.get("/walk-test", headers=as_viewer).text
    assert "Start walk test" not in walk and "started by an operator or an admin" in walk
    admin = client.get("/", headers={"Accept": "text/html"}).text
    assert "data-override-form" in admin and "End now" in admin
