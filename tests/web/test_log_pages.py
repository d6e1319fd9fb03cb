"""The event log for an auditor (#19), over HTTP against a real io process and a real
SQLite log: filter errors said plainly, Newer and Older paging, an event's own page
with a configuration change in words, a pulse output's pulse count, simulation
attributed to its user, and the System page's time-sync line."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import wait_for

HTML = {"accept": "text/html"}


def events(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/events", params=params)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["events"])


def page(client: TestClient, url: str, status: int = 200) -> str:
    reply = client.get(url, headers=HTML)
    assert reply.status_code == status, reply.text
    return reply.text


def problems(html: str) -> list[str]:
    box = re.search(r"<div class=\"card problems\".*?</div>", html, re.S)
    assert box is not None, "no filter problems shown"
    return [re.sub(r"\s+", " ", li) for li in re.findall(r"<li[^>]*>(.*?)</li>", box.group(0))]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        (
            "since=2026-12-07T10:00&until=2026-12-07T09:00",
            "From (2026-12-07 10:00:00) is not before Until (2026-12-07 09:00:00): "
            "nothing can match; swap them or clear one",
        ),
        (
            "kind=bogus",
            "unknown kind &#39;bogus&#39;: the kinds are input, output, operator, config, "
            "system, fault, security",
        ),
        ("limit=0", "Per page must be a whole number from 1 to 1000, not &#39;0&#39;"),
        ("limit=abc", "Per page must be a whole number from 1 to 1000, not &#39;abc&#39;"),
        ("channel=IN9", "there is no channel named &#39;IN9&#39; now"),
    ],
)
def test_the_log_page_says_what_is_wrong_with_a_filter(
    client: TestClient, query: str, said: str
) -> None:
    html = page(client, "/events?" + query)
    assert '<nav aria-label="Main"' in html  # the page, with its menu: not a bare error
    assert any(p.startswith(said) for p in problems(html)), problems(html)


def test_a_good_filter_says_nothing(client: TestClient) -> None:
    html = page(client, "/events?kind=system&limit=5&since=2020-01-01T00:00")
    assert "card problems" not in html


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("since=2026-12-07T10:00&until=2026-12-07T09:00", "is not before until"),
        ("kind=bogus", "kind"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
    ],
)
def test_the_api_refuses_a_bad_filter_with_a_clear_422(
    client: TestClient, query: str, said: str
) -> None:
    reply = client.get("/api/v1/events?" + query)
    assert reply.status_code == 422
    assert said in reply.json()["error"]


def test_older_then_newer_pages_come_back_to_the_same_rows(client: TestClient) -> None:
    for n in range(6):  # a dozen events or more
        client.post("/api/v1/simulation/inputs/2", json={"closed": n % 2 == 0})
        done = n + 1
        wait_for(lambda done=done: len(events(client, channel="IN2")) == done)  # type: ignore[misc]
    wait_for(lambda: len(events(client, limit=20)) >= 12)
    first = page(client, "/events?limit=3")
    seqs = re.findall(r'<tr data-seq="(\d+)"', first)
    assert len(seqs) == 3 and "data-newer" not in first
    older = re.search(r'href="([^"]*)" data-older', first)
    assert older is not None
    second = page(client, older.group(1).replace("&amp;", "&"))
    second_seqs = re.findall(r'<tr data-seq="(\d+)"', second)
    assert len(second_seqs) == 3 and int(second_seqs[0]) < int(seqs[-1])
    third_link = re.search(r'href="([^"]*)" data-older', second)
    assert third_link is not None
    third = page(client, third_link.group(1).replace("&amp;", "&"))
    newer = re.search(r'href="([^"]*)" data-newer', third)
    assert newer is not None
    back = page(client, newer.group(1).replace("&amp;", "&"))
    assert re.findall(r'<tr data-seq="(\d+)"', back) == second_seqs
    newest = re.search(r'href="([^"]*)" data-newer', back)
    assert newest is not None
    top = page(client, newest.group(1).replace("&amp;", "&"))
    assert re.findall(r'<tr data-seq="(\d+)"', top)[:3] >= seqs  # new rows may have come


def test_a_config_change_in_words_in_the_log_and_on_its_page(client: TestClient) -> None:
    in1 = client.get("/api/v1/inputs/1").json()
    client.put("/api/v1/inputs/1", json={**in1, "contact": "NC", "response_ms": 80})
    (change,) = wait_for(lambda: events(client, kind="config"))
    assert change["summary"] == "IN1 contact NO -> NC; IN1 response_ms 50 -> 80, by token:tests"
    html = page(client, "/events?kind=config")
    assert "IN1 contact NO -&gt; NC; IN1 response_ms 50 -&gt; 80, by token:tests" in html
    detail = page(client, f"/events/{change['seq']}")
    assert "What changed, by token:tests" in detail
    assert "<li>IN1 contact NO -&gt; NC</li>" in detail
    assert "<li>IN1 response_ms 50 -&gt; 80</li>" in detail
    for field in ("Number (seq)", "Time (UTC)", "Clock synchronised", "Boot", "Source"):
        assert field in detail


def test_an_event_page_shows_every_field_of_an_output_row(client: TestClient) -> None:
    client.post("/api/v1/outputs/2/start", json={"duration_s": 30})
    (row,) = wait_for(lambda: events(client, channel="OUT2", kind="output"))
    html = page(client, f"/events/{row['seq']}")
    assert "detail: relay</th><td>energised" in html
    assert "CH2" in html


@pytest.mark.parametrize("seq", ["999999", "abc", "0"])
def test_an_event_that_is_not_there_is_a_404_page(client: TestClient, seq: str) -> None:
    html = page(client, f"/events/{seq}", status=404)
    assert "there is no event" in html and '<nav aria-label="Main"' in html


def test_a_pulse_output_logs_how_many_pulses_it_gave(client: TestClient) -> None:
    out1 = client.get("/api/v1/outputs/1").json()
    pulsed = {**out1, "mode": "pulse", "pulse_on_ms": 200, "pulse_off_ms": 200, "pulse_count": 0}
    assert client.put("/api/v1/outputs/1", json=pulsed).status_code == 200
    client.post("/api/v1/outputs/1/start", json={"duration_s": 1})
    idle = wait_for(
        lambda: [e for e in events(client, channel="OUT1", kind="output") if e["state"] == "idle"],
        5,
    )[0]
    # on at 0, 400 and 800 ms; the hold ends at 1000 ms
    assert idle["detail"]["pulses"] == 3
    assert idle["summary"] == "after 3 pulses"


def test_a_simulated_contact_is_logged_as_its_user(client: TestClient) -> None:
    client.post("/api/v1/simulation/inputs/3", json={"closed": True})
    row = wait_for(lambda: events(client, channel="IN3", kind="input"))[0]
    assert (row["state"], row["cause"], row["source"]) == (
        "alarm",
        "input",
        "token:tests (simulated)",
    )


def test_the_system_page_says_how_to_fix_the_clock(client: TestClient) -> None:
    html = page(client, "/system")
    synced = client.get("/api/v1/system").json()["clock_synced"]
    assert "data-time-sync-help" in html
    if synced:
        assert "network time service" in html
    else:
        assert "How to fix it:" in html and "timedatectl timesync-status" in html


def test_an_input_change_shows_the_relays_it_moved(client: TestClient) -> None:
    def sim(closed: bool) -> None:
        reply = client.post("/api/v1/simulation/inputs/1", json={"closed": closed})
        assert reply.status_code == 200, reply.text

    sim(True)
    wait_for(lambda: events(client, channel="OUT1", kind="output"))
    sim(False)
    wait_for(lambda: len(events(client, channel="OUT1", kind="output")) >= 2)
    alarm, restore = sorted(
        (e for e in events(client, channel="IN1", kind="input")), key=lambda e: e["seq"]
    )[-2:]
    moved = client.get(f"/api/v1/events/{alarm['seq']}/annotations").json()["relays"]
    # the alarm's own output row only: the restore's row belongs to the restore
    assert [(r["output"], r["state"], r["dvr_channel"], r["relay"]) for r in moved] == [
        ("OUT1", "active", "CH1", "energised")
    ]
    assert moved[0]["seq"] > alarm["seq"] and moved[0]["after_ms"] >= 0
    back = client.get(f"/api/v1/events/{restore['seq']}/annotations").json()["relays"]
    assert [(r["output"], r["state"]) for r in back] == [("OUT1", "idle")]
    html = page(client, f"/events/{alarm['seq']}")
    assert "Relays it moved" in html and f'href="/events/{moved[0]["seq"]}">OUT1</a>' in html
    output_page = page(client, f"/events/{moved[0]['seq']}")  # an output row moves nothing
    assert "Relays it moved" not in output_page
