"""Virtual inputs through the HTTP API (#21): configured, signalled by label or
number, logged with who; the real io process behind a real HTTP client."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import wait_for


def _events(client: TestClient, channel: str) -> list[dict[str, object]]:
    reply = client.get("/api/v1/events", params={"channel": channel, "limit": 100})
    assert reply.status_code == 200, reply.text
    events: list[dict[str, object]] = reply.json()["events"]
    return sorted(events, key=lambda e: int(str(e["seq"])))


def test_add_signal_and_remove_a_virtual_input(client: TestClient) -> None:
    assert client.get("/api/v1/virtual-inputs").json() == []
    added = client.post("/api/v1/virtual-inputs", json={"name": "Yard camera", "outputs": [2]})
    assert added.status_code == 201, added.text
    status = client.get("/api/v1/status").json()
    (virtual,) = status["virtual_inputs"]
    assert (virtual["number"], virtual["label"], virtual["alarm"]) == (5, "V1", False)

    reply = client.post("/api/v1/inputs/V1/signal", json={"state": "active"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["outputs"][1]["energised"] is True
    assert reply.json()["virtual_inputs"][0]["signalled_by"] == "token:tests"
    reply = client.post("/api/v1/inputs/5/signal", json={"state": "inactive"})
    assert reply.json()["outputs"][1]["energised"] is False
    reply = client.post("/api/v1/inputs/v1/signal", json={"state": "pulse", "pulse_s": 1})
    assert reply.json()["outputs"][1]["energised"] is True
    wait_for(lambda: not client.get("/api/v1/status").json()["outputs"][1]["energised"])
    wait_for(lambda: len(_events(client, "Yard camera")) == 4)  # the log has the last one
    rows = [(e["state"], e["source"]) for e in _events(client, "Yard camera")]
    assert rows == [
        ("alarm", "token:tests"),
        ("normal", "token:tests"),
        ("alarm", "token:tests"),
        ("normal", "pulse by token:tests"),
    ]

    changed = client.put(
        "/api/v1/virtual-inputs/1", json={"name": "Yard camera", "outputs": [3], "refresh_s": 60}
    )
    assert changed.status_code == 200, changed.text
    assert client.get("/api/v1/virtual-inputs/1").json()["refresh_s"] == 60
    assert client.delete("/api/v1/virtual-inputs/1").json() == []
    assert client.get("/api/v1/status").json()["virtual_inputs"] == []


def test_signals_that_cannot_be_done_say_why(client: TestClient) -> None:
    wired = client.post("/api/v1/inputs/2/signal", json={"state": "active"})
    assert wired.status_code == 409
    assert "input 2 is wired" in wired.json()["error"]
    missing = client.post("/api/v1/inputs/V3/signal", json={"state": "active"})
    assert missing.status_code == 404
    assert "there is no virtual input V3 (virtual inputs: none configured)" in missing.text
    client.post("/api/v1/virtual-inputs", json={"name": "Cam"})
    no_length = client.post("/api/v1/inputs/V1/signal", json={"state": "pulse"})
    assert no_length.status_code == 422
    assert "pulse needs its length" in no_length.text
    bad_state = client.post("/api/v1/inputs/V1/signal", json={"state": "on"})
    assert bad_state.status_code == 422
    bad_ref = client.post("/api/v1/inputs/V9/signal", json={"state": "active"})
    assert bad_ref.status_code == 422
    too_many = [client.post("/api/v1/virtual-inputs", json={"name": f"C{k}"}) for k in range(8)]
    assert [r.status_code for r in too_many] == [201] * 7 + [409]
    assert "8 virtual inputs already" in too_many[-1].text
    clash = client.put("/api/v1/virtual-inputs/1", json={"name": "IN1"})
    assert clash.status_code == 422
    assert "IN1 used twice" in clash.text


def test_the_inputs_page_shows_and_configures_virtual_inputs(client: TestClient) -> None:
    page = client.get("/inputs", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "No virtual inputs yet." in page.text
    assert "V1 is input 5" in page.text  # how they are numbered, on this board
    client.post("/api/v1/virtual-inputs", json={"name": "Yard camera", "refresh_s": 30})
    client.post("/api/v1/inputs/V1/signal", json={"state": "active"})
    page = client.get("/inputs", headers={"Accept": "text/html"})
    assert 'data-config="virtual-inputs" data-n="1"' in page.text
    assert "V1: <span data-title>Yard camera</span>" in page.text
    assert 'data-live-virtual="1">ACTIVE' in page.text
    assert 'name="refresh_s" value="30"' in page.text
    assert "Add V2" in page.text
