"""GET /api/v1/events builds its JSON straight from the rows: it must say exactly
what the documented model (EventPage of EventOut) says, for every kind of event."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.clock import ManualClock
from app.eventlog import EventWriter, newest, prepare_database
from app.eventlog.queries import newest_rows
from app.events import Cause, EventStamper, Kind
from app.io.process import IoProcess
from app.settings import Settings
from app.timefmt import LocalTimes, local_iso
from app.web.api.events import event_out
from app.web.event_json import page_json
from app.web.models import EventPage
from tests.support import wait_for

DETAILS: list[dict[str, Any] | None] = [
    None,
    {},
    {"contact": "closed", "n": 3, "ratio": 0.1, "tiny": 1e-7, "big": 12345678901234567890},
    {"message": "disque plein: écriture refusée ✓", "nested": {"a": [1, 2.5, None, True]}},
    {"old": "2026-01-01T07:00:00.000Z", "new": "2026-01-01T08:30:00.000Z", "step_s": 5400.0},
    {"address": "192.0.2.7", "user": "admin", "reason": "bad password"},
    {"in_alarm": True, "clock_step": True},
]

SHAPES = [  # (kind, state, cause, channel, source, dvr_channel)
    (Kind.INPUT, "alarm", Cause.INPUT, "IN1", None, "A1"),
    (Kind.INPUT, "armed", Cause.SCHEDULE, "IN2", "nights", None),
    (Kind.OUTPUT, "active", Cause.INPUT, "OUT1", "IN1", "A1"),
    (Kind.FAULT, "raised", Cause.SYSTEM, "eventlog", None, None),
    (Kind.SYSTEM, "clock-step", Cause.SYSTEM, None, None, None),
    (Kind.SECURITY, "login-refused", Cause.USER, None, "web", None),
    (Kind.INPUT, "alarm-not-armed", Cause.INPUT, "IN3", None, None),
]


def model_page(db: Any, tz: ZoneInfo, **query: Any) -> dict[str, Any]:
    """The page as the model would have serialised it (the path this replaces)."""
    page = newest(db, **query)
    model = EventPage(events=[event_out(e, tz) for e in page.events], next_cursor=page.next_cursor)
    document: dict[str, Any] = json.loads(model.model_dump_json())
    return document


@pytest.mark.parametrize("zone", ["Europe/Brussels", "America/New_York", "UTC", "Asia/Kolkata"])
def test_rows_to_json_say_what_the_model_says(tmp_path: Path, zone: str) -> None:
    tz = ZoneInfo(zone)
    clock = ManualClock()
    stamper = EventStamper("boot-json", clock)
    prepared = prepare_database(tmp_path / "log.db", stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper)
    writer.start()
    try:
        for n in range(120):
            kind, state, cause, channel, source, dvr = SHAPES[n % len(SHAPES)]
            writer.submit(
                stamper.make(
                    kind,
                    state,
                    cause,
                    channel=channel,
                    source=source,
                    dvr_channel=dvr,
                    detail=DETAILS[n % len(DETAILS)],
                )
            )
            clock.advance(3 * 3600 + 7.123)  # across months: both sides of DST changes
        assert writer.flush()
    finally:
        writer.stop()
    db = prepared.engine
    try:
        for query in ({"limit": 100}, {"limit": 7, "channel": "IN1"}, {"kinds": [Kind.FAULT]}):
            rows, cursor = newest_rows(db, **query)
            assert json.loads(page_json(rows, cursor, tz)) == model_page(db, tz, **query)
    finally:
        db.dispose()


def test_a_detail_with_nan_is_written_as_the_model_writes_it(tmp_path: Path) -> None:
    tz = ZoneInfo("Europe/Brussels")
    stamper = EventStamper("boot-json", ManualClock())
    prepared = prepare_database(tmp_path / "log.db", stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper)
    writer.start()
    writer.submit(
        stamper.make(Kind.SYSTEM, "odd", Cause.SYSTEM, detail={"x": float("nan"), "y": 1})
    )
    assert writer.flush()
    writer.stop()
    try:
        rows, cursor = newest_rows(prepared.engine)
        body = page_json(rows, cursor, tz)
        assert json.loads(body) == model_page(prepared.engine, tz)  # valid JSON: null
        assert json.loads(body)["events"][0]["detail"] == {"x": None, "y": 1}
    finally:
        prepared.engine.dispose()


def test_the_api_answers_what_the_model_says(
    client: TestClient, io: IoProcess, settings: Settings
) -> None:
    def logged(count: int) -> bool:
        return len(newest(io.db, kinds=[Kind.INPUT]).events) >= count

    for n in range(4):
        assert client.post("/api/v1/simulation/inputs/2", json={"closed": n % 2 == 0}).is_success
        wait_for(partial(logged, n + 1), timeout=10)
    response = client.get("/api/v1/events", params={"limit": 5})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == model_page(io.db, settings.tz, limit=5)
    assert body["next_cursor"] is not None
    # The OpenAPI schema still documents the model.
    schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/EventPage"}


@pytest.mark.parametrize(
    "zone", ["Europe/Brussels", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"]
)
def test_cached_local_times_match_the_zone_across_every_offset_change(zone: str) -> None:
    """The cached offset (per UTC day without a change) against a lookup per moment,
    2010-2030: sampled every 2 h 12 min, and to the microsecond around each change of
    offset (daylight saving, a half-hour shift on Lord Howe, Samoa's skipped day)."""
    tz = ZoneInfo(zone)
    times = LocalTimes(tz)
    start, end, step = 1_262_304_000_000_000, 1_893_456_000_000_000, 7_919_000_000
    changes = 0
    previous = local_iso(start, tz)[-6:]
    for utc_us in range(start, end, step):
        expected = local_iso(utc_us, tz)
        assert times.iso(utc_us) == expected
        if expected[-6:] != previous:  # the offset changed since the last sample: find where
            changes += 1
            low, high = utc_us - step, utc_us
            while high - low > 1:
                middle = (low + high) // 2
                if local_iso(middle, tz)[-6:] == previous:
                    low = middle
                else:
                    high = middle
            for moment in (low - 1000, low, high, high + 999, high + 1000):
                assert times.iso(moment) == local_iso(moment, tz)
            previous = expected[-6:]
    assert changes >= 20 if zone != "Pacific/Apia" else changes >= 2
