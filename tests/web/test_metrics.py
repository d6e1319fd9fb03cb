"""/metrics through a real HTTP client, a real io process on simulated pins and a
real SQLite log; the answer read with prometheus-client's own parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.io.process import IoProcess
from app.settings import Settings
from tests.support import wait_for
from tests.web.conftest import ADMIN

REPO = Path(__file__).resolve().parents[2]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_inputs_outputs_faults_and_events(client: TestClient) -> None:
    first = scrape(client)
    assert value(first, "alarmbridge_io_up") == 1
    assert value(first, "alarmbridge_simulated") == 1
    in1 = {"input": "IN1", "number": "1", "kind": "alarm"}
    out1 = {"output": "OUT1", "number": "1", "dvr_channel": "CH1"}
    assert value(first, "alarmbridge_input_alarm", **in1) == 0
    assert value(first, "alarmbridge_output_active", **out1) == 0
    assert value(first, "alarmbridge_faults_active") == 0
    outputs_before = value(first, "alarmbridge_events_total", kind="output")

    response = client.post("/api/v1/simulation/inputs/1", json={"closed": True})
    assert response.status_code == 200, response.text
    now = wait_for(
        lambda: (
            (s := scrape(client))
            and value(s, "alarmbridge_output_active", **out1) == 1
            and value(s, "alarmbridge_events_total", kind="output") > outputs_before
            and s
        )
    )
    assert value(now, "alarmbridge_input_alarm", **in1) == 1
    assert value(now, "alarmbridge_input_contact_closed", **in1) == 1
    assert value(now, "alarmbridge_output_relay_energised", **out1) in (0, 1)
    assert value(now, "alarmbridge_last_event_seq") > value(first, "alarmbridge_last_event_seq")
    # the counts agree with the log itself (an independent count through the API)
    logged = client.get("/api/v1/events", params={"kind": "input", "limit": 500}).json()
    assert value(now, "alarmbridge_events_total", kind="input") == len(logged["events"])


def test_a_viewer_token_may_scrape_and_nobody_else(settings: Settings, client: TestClient) -> None:
    store = AuthStore(settings.auth_db_path)
    try:
        store.add_user("prom", Role.VIEWER, hash_password("a scraper's passphrase"))
        viewer, _ = store.new_token("prometheus", Role.VIEWER, "prom")
    finally:
        store.close()
    assert value(scrape(client, Authorization=f"Bearer {viewer}"), "alarmbridge_io_up") == 1
    anonymous = TestClient(client.app)
    refused = anonymous.get("/metrics")
    assert refused.status_code == 401
    assert "alarmbridge_" not in refused.text
    wrong = anonymous.get("/metrics", headers={"Authorization": "Bearer abt_not-a-token"})
    assert wrong.status_code == 401
    # a logged-in session works too (the Prometheus job uses a token; a person a browser)
    login = anonymous.post(
        "/api/v1/login",
        json={"name": ADMIN[0], "password": ADMIN[1]},
        headers={"Origin": "http://testserver"},
    )
    assert login.status_code == 200, login.text
    assert anonymous.get("/metrics").status_code == 200


def test_without_the_io_process_it_still_answers(client: TestClient, io: IoProcess) -> None:
    before = value(scrape(client), "alarmbridge_events_total", kind="system")
    io.stop()
    samples = scrape(client)
    assert value(samples, "alarmbridge_io_up") == 0
    assert not any(name.startswith("alarmbridge_input_") for name, _ in samples)
    assert value(samples, "alarmbridge_events_total", kind="system") >= before  # the log


def test_the_io_process_never_loads_the_network_libraries() -> None:
    code = (
        "import sys, app.io.process, app.cli, app.settings\n"
        "print(sorted(m for m in ('prometheus_client', 'aiosmtplib', 'apprise') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _histogram(samples: Samples, name: str) -> tuple[list[tuple[float, float]], float, float]:
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (sample, labels), v in samples.items()
        if sample == f"{name}_bucket"
    )
    return buckets, value(samples, f"{name}_count"), value(samples, f"{name}_sum")


def _settled(client: TestClient) -> Samples:
    """A scrape after which nothing more was committed (two alike in a row)."""
    last: list[Samples] = []

    def same() -> bool:
        last.append(scrape(client))
        keys = ("alarmbridge_last_event_seq", "alarmbridge_eventlog_commit_events_sum")
        return len(last) > 1 and all(value(last[-1], k) == value(last[-2], k) for k in keys)

    wait_for(same, interval=0.3)
    return last[-1]


def test_the_writers_commit_latency_and_events_per_commit(client: TestClient) -> None:
    before = _settled(client)
    in1 = {"input": "IN1", "number": "1", "kind": "alarm"}
    for closed in (True, False, True, False):
        response = client.post("/api/v1/simulation/inputs/1", json={"closed": closed})
        assert response.status_code == 200, response.text

        def shown(closed: bool = closed) -> bool:
            return value(scrape(client), "alarmbridge_input_alarm", **in1) == closed

        wait_for(shown)
    after = _settled(client)
    new_rows = value(after, "alarmbridge_last_event_seq") - value(
        before, "alarmbridge_last_event_seq"
    )
    assert new_rows >= 4  # the input's changes at least, and their outputs
    seconds, commits, spent = _histogram(after, "alarmbridge_eventlog_commit_seconds")
    sizes, commits_too, carried = _histogram(after, "alarmbridge_eventlog_commit_events")
    _, commits_before, _ = _histogram(before, "alarmbridge_eventlog_commit_seconds")
    _, _, carried_before = _histogram(before, "alarmbridge_eventlog_commit_events")
    # every row the writer committed since is in exactly one commit, and counted once
    assert carried - carried_before == new_rows
    assert 1 <= commits - commits_before <= new_rows
    assert commits == commits_too
    for buckets, count in ((seconds, commits), (sizes, commits)):
        assert buckets[-1] == (float("inf"), count)
        assert [n for _, n in buckets] == sorted(n for _, n in buckets)
    assert spent > 0
    assert seconds[0][0] == 0.0005 and sizes[-2][0] == 500
