"""Schedules through the API, and a real io process obeying them: its wall clock
is the system's, shifted, so a window can begin a second from now."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.io.process import IoProcess
from app.schedules.calendar import to_us
from app.settings import Settings
from tests.faults.clock import ShiftedClock
from tests.support import wait_for
from tests.web.test_api import events, sim, status

BRUSSELS = ZoneInfo("Europe/Brussels")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def io(settings: Settings, clock: ShiftedClock) -> Iterator[IoProcess]:
    process = IoProcess(settings, clock=clock)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def every_day(start: str, end: str, name: str = "Night") -> dict[str, Any]:
    return {"name": name, "week": {d: [{"start": start, "end": end}] for d in DAYS}}


def create(client: TestClient, doc: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/schedules", json=doc)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def use_on_input(client: TestClient, n: int, name: str) -> None:
    doc = client.get(f"/api/v1/inputs/{n}").json()
    response = client.put(f"/api/v1/inputs/{n}", json={**doc, "schedule": name})
    assert response.status_code == 200, response.text


def test_create_read_rename_and_delete(client: TestClient) -> None:
    created = create(client, every_day("22:00", "06:00"))
    assert created["week"]["mon"] == [{"start": "22:00", "end": "06:00"}]
    assert client.get("/api/v1/schedules").json() == [created]
    again = client.post("/api/v1/schedules", json=every_day("01:00", "02:00"))
    assert again.status_code == 409
    assert again.json()["error"] == "a schedule named 'Night' exists already"

    use_on_input(client, 2, "Night")
    renamed = client.put("/api/v1/schedules/Night", json=every_day("22:00", "06:00", "Nights"))
    assert renamed.status_code == 200, renamed.text
    assert client.get("/api/v1/inputs/2").json()["schedule"] == "Nights"  # followed the name
    assert client.get("/api/v1/schedules/Night").status_code == 404

    in_use = client.delete("/api/v1/schedules/Nights")
    assert in_use.status_code == 409
    assert in_use.json()["error"] == (
        "schedule 'Nights' is in use by input 2 (IN2): choose another schedule there first"
    )
    use_on_input(client, 2, "always")
    assert client.delete("/api/v1/schedules/Nights").status_code == 204
    assert client.get("/api/v1/schedules").json() == []
    # each change is audited with its old and new values
    changes = wait_for(
        lambda: len(events(client, kind="config")) == 5 and events(client, kind="config")
    )
    assert changes[0]["detail"]["old"]["schedules"][0]["name"] == "Nights"


def test_bad_schedules_are_refused_with_the_field_and_the_fix(client: TestClient) -> None:
    doc = {
        "name": "Shop",
        "week": {"mon": [{"start": "08:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]},
    }
    response = client.post("/api/v1/schedules", json=doc)
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert problem["message"] == (
        "Monday: 08:00-12:00 overlaps 11:00-13:00: merge them into 08:00-13:00 or change one"
    )
    response = client.post(
        "/api/v1/schedules", json={"name": "Shop", "week": {"tue": [{"start": "8", "end": "9"}]}}
    )
    assert response.status_code == 422
    fields = {p["field"] for p in response.json()["problems"]}
    assert fields == {"week.tue.0.start", "week.tue.0.end"}
    doc = client.get("/api/v1/inputs/1").json()
    response = client.put("/api/v1/inputs/1", json={**doc, "schedule": "Nope"})
    assert response.status_code == 422
    assert "input 1 (IN1): schedule 'Nope' does not exist" in response.json()["error"]
    assert client.get("/api/v1/schedules").json() == []  # nothing half-saved


def test_the_timeline_shows_every_channel_and_the_clock_change(client: TestClient) -> None:
    create(client, every_day("02:30", "02:45"))
    use_on_input(client, 1, "Night")
    doc = client.get("/api/v1/outputs/2").json()
    client.put("/api/v1/outputs/2", json={**doc, "schedule": "Night"})
    response = client.get("/api/v1/timeline", params={"span": "7d", "start": "2026-10-24T12:00"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"]) == (
        "2026-10-24T12:00:00.000+02:00",
        "2026-10-31T11:00:00.000+01:00",  # 168 hours: the clocks went back
    )
    assert [c["label"] for c in body["offset_changes"]] == ["clocks go back 1 h"]
    assert body["offset_changes"][0]["at"] == "2026-10-25T02:00:00.000+01:00"
    rows = {(r["section"], r["number"]): r for r in body["rows"]}
    assert len(rows) == 8
    armed = [s for s in rows[("input", 1)]["segments"] if s["state"] == "armed"]
    assert len(armed) == 7
    assert armed[0] == {
        "start": "2026-10-25T02:30:00.000+02:00",  # once, in summer time
        "end": "2026-10-25T02:45:00.000+02:00",
        "state": "armed",
    }
    assert {s["state"] for s in rows[("input", 2)]["segments"]} == {"armed"}  # always
    assert [s["state"] for s in rows[("output", 2)]["segments"]][:3] == ["off", "on", "off"]
    assert {s["state"] for s in rows[("output", 1)]["segments"]} == {"untimed"}
    bad = client.get("/api/v1/timeline", params={"span": "1y"})
    assert bad.status_code == 422


def test_the_running_io_process_follows_its_schedule_and_clock_steps(
    client: TestClient, clock: ShiftedClock
) -> None:
    # the wall clock reads 07:59:58 on a Monday in Brussels; the window opens at 08:00
    clock.set_wall(to_us(datetime(2026, 11, 23, 7, 59, 58, tzinfo=BRUSSELS)))
    create(client, every_day("08:00", "09:00"))
    use_on_input(client, 1, "Night")
    assert status(client)["inputs"][0]["armed"] is False
    sim(client, 1, True)
    [not_armed] = wait_for(
        lambda: [e for e in events(client, channel="IN1") if e["state"] == "alarm-not-armed"]
    )
    assert not_armed["summary"] == "not armed: its outputs were not driven"
    assert status(client)["outputs"][0]["active"] is False

    armed = wait_for(
        lambda: [e for e in events(client, channel="IN1") if e["state"] == "armed"], timeout=6
    )
    assert (armed[0]["cause"], armed[0]["source"]) == ("schedule", "Night")
    assert armed[0]["local"].startswith("2026-11-23T08:00:00")
    wait_for(lambda: status(client)["outputs"][0]["active"])

    clock.set_wall(to_us(datetime(2026, 11, 23, 10, 0, tzinfo=BRUSSELS)))  # a step
    steps = wait_for(
        lambda: (
            (found := [e for e in events(client, kind="system") if e["state"] == "clock-step"])
            and len(found) == 2
            and found
        ),
        timeout=5,
    )  # newest first: the first step was to 07:59:58, above
    assert steps[0]["detail"]["skipped"] == {"Night": ["off 2026-11-23T08:00:00.000Z"]}
    text = steps[0]["summary"]  # the log's one-line explanation, in local time
    assert text.startswith("clock stepped from 2026-11-23 08:00:0"), text
    assert " to 2026-11-23 10:00:0" in text and text.endswith("; schedules re-evaluated: Night")
    wait_for(lambda: not status(client)["outputs"][0]["active"])
    disarmed = [e for e in events(client, channel="IN1") if e["state"] == "disarmed"]
    # newest first: by the step, then when the input was put on this schedule (#15:
    # the schedule disarmed it, not the user)
    assert [(e["cause"], e["source"], e["detail"].get("clock_step")) for e in disarmed] == [
        ("schedule", "Night", True),
        ("schedule", "Night", None),
    ]
