"""The walk test through the API and its pages, against a real io process on
simulated pins and a real SQLite file: a walk, the channel checks, the report as
a page, JSON and CSV, read back from the log."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from app.timefmt import local_text, parse_moment
from tests.web.conftest import wait_for
from tests.web.test_api import events, sim, status

HTML = {"Accept": "text/html"}


def test_a_walk_test_from_start_to_report(client: TestClient) -> None:
    assert client.get("/api/v1/walk-test/report").status_code == 404
    assert "no walk test report yet" in client.get("/walk-test/report", headers=HTML).text
    out3 = client.get("/api/v1/outputs/3").json()
    client.put("/api/v1/outputs/3", json={**out3, "recorder": "avtech"})
    started = client.post("/api/v1/walk-test/start")
    assert started.status_code == 200, started.text
    walk = started.json()["walk_test"]
    assert walk["started_by"] == "token:tests"
    assert [i["tested"] for i in walk["inputs"]] == [False] * 4
    again = client.post("/api/v1/walk-test/start")
    assert again.status_code == 400 and "already running" in again.json()["error"]
    page = client.get("/walk-test", headers=HTML).text
    assert "Linked relays fire during a walk test" in page
    assert 'data-running="yes"' in page

    sim(client, 2, True)  # the installer opens door 2
    wait_for(lambda: status(client)["walk_test"]["inputs"][1]["tested"])
    sim(client, 2, False)
    seen = wait_for(lambda: status(client)["walk_test"]["inputs"][1]["back_to_normal"])
    assert seen is True
    in2 = status(client)["walk_test"]["inputs"][1]
    assert in2["alarms"] == 1 and in2["changes"] == 2 and in2["first_alarm"]

    early = client.post("/api/v1/walk-test/outputs/3/confirm", json={"marked": True})
    assert early.status_code == 400 and "pulse it first" in early.json()["error"]
    pulsed = client.post("/api/v1/walk-test/outputs/3/pulse")
    assert pulsed.status_code == 200
    assert pulsed.json()["outputs"][2]["active"] is True
    ok = client.post(
        "/api/v1/walk-test/outputs/3/confirm", json={"marked": True, "note": "CH3 in DVR log"}
    )
    assert ok.json()["walk_test"]["outputs"][2]["marked_alarm"] is True
    assert client.post("/api/v1/walk-test/outputs/9/pulse").status_code == 404

    report = client.post("/api/v1/walk-test/end").json()
    assert report["ended_by"] == "token:tests"
    assert status(client)["walk_test"] is None
    ended = wait_for(
        lambda: [e for e in events(client, kind="operator") if e["state"] == "walk-test-ended"]
    )
    assert ended[0]["detail"]["outputs"][2]["note"] == "CH3 in DVR log"
    assert ended[0]["summary"] == "1 of 4 inputs tested; the report is here"
    states = [e["state"] for e in events(client, kind="operator")]
    assert "walk-test-started" in states and "walk-test-channel-ok" in states

    as_json = client.get("/api/v1/walk-test/report").json()
    assert as_json["seq"] == ended[0]["seq"]
    assert as_json["inputs"][1]["tested"] is True and as_json["inputs"][0]["tested"] is False
    assert '"N.C."' in as_json["outputs"][2]["recorder_setting"]
    text = client.get("/api/v1/walk-test/report", params={"format": "csv"}).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "number", "name", "detail", "result", "by", "when"]
    assert rows[1][:3] == ["input", "1", "IN1"] and rows[1][4] == "NOT TESTED"
    assert rows[2][4] == "tested"
    assert rows[7][:3] == ["output", "3", "OUT3"] and rows[7][4] == "marked"
    assert "N.C." in rows[7][3] and rows[7][5] == "token:tests"
    printable = client.get("/walk-test/report", headers=HTML).text
    assert "Commissioning report" in printable and "NOT TESTED" in printable
    assert "marked an alarm" in printable and f"event #{as_json['seq']}" in printable
    # the printable report is for the customer: times in the appliance's zone, not UTC ISO
    brussels = ZoneInfo("Europe/Brussels")  # the fixture's zone
    begun = local_text(parse_moment(as_json["started"], brussels), brussels)
    assert f"at {begun}," in printable and as_json["started"] not in printable
    assert "(Europe/Brussels)" in printable


def test_walk_test_actions_need_a_running_test(client: TestClient) -> None:
    pulse = client.post("/api/v1/walk-test/outputs/1/pulse")
    assert pulse.status_code == 400 and "no walk test is running" in pulse.json()["error"]
    end = client.post("/api/v1/walk-test/end")
    assert end.status_code == 400
    assert 'data-running="no"' in client.get("/walk-test", headers=HTML).text
