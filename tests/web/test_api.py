"""The JSON API through a real HTTP client, a real io process on simulated pins and
a real SQLite event log."""

from __future__ import annotations

import csv
import io as stdio
import json
from typing import Any

from fastapi.testclient import TestClient

from app.io.process import IoProcess
from tests.support import wait_for


def status(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def events(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/events", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def sim(client: TestClient, n: int, closed: bool) -> None:
    response = client.post(f"/api/v1/simulation/inputs/{n}", json={"closed": closed})
    assert response.status_code == 200, response.text


def test_status_numbers_every_channel_and_says_simulated(client: TestClient) -> None:
    body = status(client)
    assert body["simulated"] is True
    assert [i["number"] for i in body["inputs"]] == [1, 2, 3, 4]
    assert (body["outputs"][0]["name"], body["outputs"][0]["dvr_channel"]) == ("OUT1", "CH1")
    assert body["inputs"][0]["contact"] == "open" and body["inputs"][0]["alarm"] is False
    assert body["outputs"][0]["active"] is False and body["faults"] == []


def test_a_simulated_contact_drives_its_relay_and_is_logged(client: TestClient) -> None:
    sim(client, 1, True)
    wait_for(lambda: status(client)["outputs"][0]["active"])
    assert status(client)["inputs"][0]["alarm"] is True
    logged = wait_for(lambda: events(client, channel="OUT1", kind="output"))
    assert (logged[0]["state"], logged[0]["source"], logged[0]["dvr_channel"]) == (
        "active",
        "IN1",
        "CH1",
    )
    assert logged[0]["local"].endswith(("+01:00", "+02:00"))  # Europe/Brussels
    assert logged[0]["utc"].endswith("Z")
    sim(client, 1, False)
    wait_for(lambda: not status(client)["outputs"][0]["active"])


def test_manual_start_for_a_time_and_stop(client: TestClient) -> None:
    response = client.post("/api/v1/outputs/2/start", json={"duration_s": 30})
    assert response.status_code == 200
    out = response.json()["outputs"][1]
    assert out["active"] and out["cause"] == "user" and out["source"] == "token:tests"
    assert 25_000 < out["time_left_ms"] <= 30_000 and not out["latched"]
    response = client.post("/api/v1/outputs/2/stop")
    assert response.status_code == 200 and not response.json()["outputs"][1]["active"]
    wanted = {("operator", "manual-start"), ("operator", "manual-stop"), ("output", "idle")}
    wait_for(lambda: wanted <= {(e["kind"], e["state"]) for e in events(client, channel="OUT2")})


def test_start_until_stopped_is_a_latch(client: TestClient) -> None:
    out = client.post("/api/v1/outputs/3/start").json()["outputs"][2]
    assert out["active"] and out["latched"] and out["until_stopped"]
    client.post("/api/v1/outputs/3/stop")


def test_action_errors_are_clear_json(client: TestClient) -> None:
    missing = client.post("/api/v1/outputs/9/start", json={})
    assert missing.status_code == 404
    assert missing.json()["error"] == "output 9 does not exist: this board has outputs 1-4"
    too_short = client.post("/api/v1/outputs/1/start", json={"duration_s": 0})
    assert too_short.status_code == 422
    assert too_short.json()["problems"][0]["field"] == "duration_s"
    unknown = client.post("/api/v1/outputs/1/start", json={"seconds": 5})
    assert unknown.status_code == 422 and "seconds" in unknown.json()["error"]
    assert client.get("/api/v1/nothing").json() == {
        "error": "there is no page or API route at /api/v1/nothing",
        "problems": [],
    }
    assert client.delete("/api/v1/status").status_code == 405


def test_the_manual_trigger_starts_every_dvr_output(client: TestClient) -> None:
    body = client.post("/api/v1/trigger").json()
    assert all(o["active"] for o in body["outputs"])
    wait_for(lambda: any(e["state"] == "manual-trigger" for e in events(client, kind="operator")))


def test_changing_an_input_from_no_to_nc_takes_effect_at_once(client: TestClient) -> None:
    before = client.get("/api/v1/inputs/1").json()
    assert before["contact"] == "NO"
    response = client.put("/api/v1/inputs/1", json={**before, "contact": "NC"})
    assert response.status_code == 200, response.text
    assert response.json()["contact"] == "NC"
    # The contact is open: for an NC input that is an alarm, and OUT1 follows.
    wait_for(lambda: status(client)["inputs"][0]["alarm"])
    wait_for(lambda: status(client)["outputs"][0]["active"])
    change = wait_for(lambda: events(client, kind="config"))[0]
    assert change["source"] == "token:tests"  # who changed it
    assert change["detail"]["old"]["inputs"][0]["contact"] == "NO"
    assert change["detail"]["new"]["inputs"][0]["contact"] == "NC"
    assert client.get("/api/v1/config").json()["inputs"][0]["contact"] == "NC"


def test_invalid_settings_are_refused_field_by_field(client: TestClient) -> None:
    good = client.get("/api/v1/inputs/2").json()
    bad = client.put("/api/v1/inputs/2", json={**good, "response_ms": -5, "contact": "XX"})
    assert bad.status_code == 422
    fields = {p["field"] for p in bad.json()["problems"]}
    assert fields == {"response_ms", "contact"}
    link = client.put("/api/v1/inputs/2", json={**good, "outputs": [9]})
    assert link.status_code == 422
    assert "input 2 (IN2) links output 9, which does not exist" in link.json()["error"]
    hold = client.get("/api/v1/outputs/1").json()
    short = client.put("/api/v1/outputs/1", json={**hold, "hold": "fixed", "hold_ms": 10})
    assert short.status_code == 422 and "at least 25 ms" in short.json()["error"]
    assert client.get("/api/v1/inputs/2").json() == good  # nothing changed
    assert client.put("/api/v1/inputs/7", json=good).status_code == 404


def test_output_button_and_healthy_relay_settings(client: TestClient) -> None:
    out = client.get("/api/v1/outputs/4").json()
    changed = {**out, "mode": "pulse", "pulse_on_ms": 200, "hold": "fixed", "hold_ms": 5000}
    assert client.put("/api/v1/outputs/4", json=changed).json() == changed
    button = {"action": "pulse", "outputs": [2], "duration_ms": 1000}
    assert client.put("/api/v1/button", json=button).json() == button
    refused = client.put("/api/v1/healthy-relay", json={"output": 4})  # IN4 links OUT4
    assert refused.status_code == 422
    assert refused.json()["error"] == (
        "input 4 (IN4) links output 4, which is the healthy relay: unlink it first"
    )
    in4 = client.get("/api/v1/inputs/4").json()
    assert client.put("/api/v1/inputs/4", json={**in4, "outputs": []}).status_code == 200
    assert client.put("/api/v1/healthy-relay", json={"output": 4}).json() == {"output": 4}
    wait_for(lambda: status(client)["outputs"][3]["healthy_relay"])


def test_configuration_export_and_import(client: TestClient) -> None:
    download = client.get("/api/v1/config", params={"download": "true"})
    assert download.headers["content-disposition"].startswith("attachment;")
    doc = download.json()
    doc["outputs"][0]["name"] = "Front door camera"
    doc["inputs"][0]["name"] = "Front door"
    assert client.put("/api/v1/config", json=doc).status_code == 200
    assert status(client)["outputs"][0]["name"] == "Front door camera"
    doc["inputs"] = doc["inputs"][:2]
    misfit = client.put("/api/v1/config", json=doc)
    assert misfit.status_code == 422
    assert "2 inputs configured, the board has 4" in misfit.json()["error"]
    assert client.put("/api/v1/config", json={"inputs": []}).status_code == 422


def _make_events(client: TestClient, n: int) -> None:
    for k in range(n):
        closed = k % 2 == 0
        sim(client, 2, closed)

        def settled(closed: bool = closed) -> bool:
            in2 = status(client)["inputs"][1]
            return bool(in2["alarm"] == closed and in2["contact"] == ("open", "closed")[closed])

        wait_for(settled)


def test_events_filter_and_page_by_cursor(client: TestClient) -> None:
    _make_events(client, 6)
    inputs = wait_for(lambda: len(e := events(client, channel="IN2", kind="input")) == 6 and e)
    first = client.get("/api/v1/events", params={"channel": "IN2", "limit": 4}).json()
    second = client.get(
        "/api/v1/events", params={"channel": "IN2", "limit": 4, "cursor": first["next_cursor"]}
    ).json()
    both = first["events"] + second["events"]
    assert [e["seq"] for e in both] == sorted((e["seq"] for e in both), reverse=True)
    assert len({e["seq"] for e in both}) == len(both)
    assert {e["seq"] for e in inputs} <= {e["seq"] for e in both}
    kinds = {e["kind"] for e in events(client, kind=["input", "operator"])}
    assert kinds <= {"input", "operator"} and "input" in kinds
    newest = inputs[0]
    until = events(client, channel="IN2", until=newest["utc"])
    assert newest["seq"] not in {e["seq"] for e in until}
    local_since = newest["local"][:23]  # without its offset: read in Europe/Brussels
    assert [e["seq"] for e in events(client, channel="IN2", kind="input", since=local_since)] == [
        newest["seq"]
    ]


def test_event_query_errors(client: TestClient) -> None:
    bad_cursor = client.get("/api/v1/events", params={"cursor": "!!"})
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["error"]
    bad_time = client.get("/api/v1/events", params={"since": "yesterday"})
    assert bad_time.status_code == 422 and "ISO 8601" in bad_time.json()["error"]
    assert client.get("/api/v1/events", params={"limit": 5000}).status_code == 422
    assert client.get("/api/v1/events", params={"kind": "nonsense"}).status_code == 422


def test_exports_hold_every_matching_event_oldest_first(client: TestClient) -> None:
    _make_events(client, 4)
    wait_for(lambda: len(events(client, channel="IN2", kind="input")) == 4)
    response = client.get("/api/v1/events/export", params={"format": "csv", "channel": "IN2"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(stdio.StringIO(response.text)))
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    assert {r["channel"] for r in rows} == {"IN2"}
    assert len(rows) == len(events(client, channel="IN2"))
    assert rows[0]["local"].endswith(("+01:00", "+02:00"))
    lines = client.get("/api/v1/events/export", params={"format": "jsonl"}).text.splitlines()
    assert len(lines) == client.get("/api/v1/system").json()["database"]["events"]
    assert json.loads(lines[0])["seq"] == 1


def test_histogram_counts_every_recent_event(client: TestClient) -> None:
    _make_events(client, 2)
    wait_for(lambda: len(events(client, channel="OUT2")) == 2)  # active, then idle

    def histogram() -> dict[str, Any]:
        body: dict[str, Any] = client.get("/api/v1/events/histogram").json()
        return body

    body = histogram()
    assert body["bucket_s"] == 3600 and len(body["buckets"]) == 24
    assert body["buckets"][0]["start_local"].endswith(("+01:00", "+02:00"))
    total = sum(sum(b["counts"].values()) for b in body["buckets"])
    assert total == client.get("/api/v1/system").json()["database"]["events"]
    assert body["buckets"][-1]["counts"]["IN2"] == 2
    week = client.get("/api/v1/events/histogram", params={"span": "7d"}).json()
    assert len(week["buckets"]) == 168
    assert client.get("/api/v1/events/histogram", params={"span": "1y"}).status_code == 422


def test_system_facts(client: TestClient) -> None:
    body = client.get("/api/v1/system").json()
    assert body["timezone"] == "Europe/Brussels" and body["simulated"] is True
    assert body["board"]["name"] == "default"
    assert body["board"]["pins"][0] == {
        "function": "IN1",
        "gpio": 5,
        "header_pin": 29,
        "wiring": "input, closed = low",
    }
    assert body["database"]["events"] >= 1 and body["database"]["size_bytes"] > 0
    assert body["disk"]["total_bytes"] >= body["disk"]["free_bytes"] > 0


def test_openapi_documents_every_route_with_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/status",
        "/api/v1/inputs/{n}",
        "/api/v1/outputs/{n}/start",
        "/api/v1/events",
        "/api/v1/events/stream",
        "/api/v1/simulation/inputs/{n}",
    ):
        assert path in paths
    assert "$ref" in str(paths["/api/v1/status"]["get"]["responses"]["200"])
    assert "ErrorOut" in str(paths["/api/v1/status"]["get"]["responses"]["503"])
    assert not any(p == "/" or p.startswith("/inputs") for p in paths)  # pages are not API


def test_without_the_io_process_the_api_says_so(client: TestClient, io: IoProcess) -> None:
    io.stop()
    response = client.get("/api/v1/status")
    assert response.status_code == 503
    assert "the io process is not running" in response.json()["error"]
    assert client.post("/api/v1/outputs/1/start").status_code == 503
    # The log is still readable: it is a file.
    assert client.get("/api/v1/events").status_code == 200
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "The relay controller is not answering" in page.text
