"""An alarm's event page in a real browser: what the recorders answered, the snapshots
and the recording link, with 'alarmbridge run' (its network process reading a
recorders file) and a recorder peer with real Digest authentication (issue #20)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.actions.peer import Peer, Reply, running_peer
from tests.browser.conftest import Appliance, shot
from tests.recorders.conftest import small_jpeg

ISAPI_OK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">\n'
    b"<statusCode>1</statusCode>\n<statusString>OK</statusString>\n</ResponseStatus>\n"
)
START = "/ISAPI/ContentMgmt/record/control/manual/start/tracks/101"
PICTURE = "/ISAPI/Streaming/channels/101/picture"
DIGEST = {"scheme": "digest", "user": "admin", "password": "s3cret-Pass"}


@pytest.fixture
def nvr() -> Iterator[Peer]:
    with running_peer("digest") as peer:
        peer.answer("PUT", START, Reply(200, ISAPI_OK, "application/xml"))
        peer.answer("GET", PICTURE, Reply(200, small_jpeg(320, 180), "image/jpeg"))
        yield peer


@pytest.fixture
def frigate() -> Iterator[Peer]:
    created = {"success": True, "message": "Successfully created event.", "event_id": "42.0-xyz"}
    with running_peer() as peer:
        peer.answer(
            "POST",
            "/api/events/gate/alarm/create",
            Reply(200, json.dumps(created).encode(), "application/json"),
        )
        yield peer


@pytest.fixture
def appliance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nvr: Peer, frigate: Peer
) -> Iterator[Appliance]:
    """'alarmbridge run' with a recorders file linking IN1 (the environment it inherits)."""
    doc = {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR CH1",
                "base_url": nvr.url,
                "channel": 1,
                "auth": DIGEST,
            },
            {
                "kind": "frigate-event",
                "name": "Frigate gate",
                "base_url": frigate.url,
                "camera": "gate",
            },
        ],
        "cameras": [{"kind": "http", "camera": "CH1", "url": nvr.url + PICTURE, "auth": DIGEST}],
        "links": {
            "IN1": {"on_alarm": ["NVR CH1", "Frigate gate"], "cameras": ["CH1"], "offsets_s": [0]}
        },
    }
    file = tmp_path / "recorders.json"
    file.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setenv("ALARMBRIDGE_RECORDERS_FILE", str(file))
    running = Appliance(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


def _annotated(appliance: Appliance, timeout_s: float = 30.0) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = appliance.api("GET", "/api/v1/events?kind=input&channel=IN1")["events"]
        alarms = [e["seq"] for e in found if e["state"] == "alarm"]
        if alarms:
            body = appliance.api("GET", f"/api/v1/events/{alarms[0]}/annotations")
            if len(body["actions"]) == 2 and body["snapshots"]:
                return alarms[0], body
        assert time.monotonic() < deadline, "the alarm's annotations did not arrive"
        time.sleep(0.2)


def test_the_event_page_shows_the_recorders_answers_the_snapshot_and_the_link(
    appliance: Appliance, page: Page
) -> None:
    # the network process answers (its recorders cursor is made at its start); then an alarm
    deadline = time.monotonic() + 30
    while not appliance.api("GET", "/api/v1/integrations")["running"]:
        assert time.monotonic() < deadline, "the network process did not come up"
        time.sleep(0.2)
    appliance.api("POST", "/api/v1/simulation/inputs/1", {"closed": True})
    seq, body = _annotated(appliance)
    page.goto(f"{appliance.url}/events/{seq}")
    card = page.locator("[data-recorders]")
    expect(card.get_by_role("heading", name="Recorders and evidence")).to_be_visible()
    for name in ("NVR CH1", "Frigate gate"):
        row = card.locator(f'[data-action="{name}"]')
        expect(row).to_have_attribute("data-ok", "true")
        expect(row).to_contain_text("done")
    link = card.get_by_role("link", name="/api/events/42.0-xyz/clip.mp4")
    clip = next(url for url in body["links"] if url.endswith("/clip.mp4"))
    expect(link).to_have_attribute("href", clip)
    playback = card.get_by_role("link", name="/Streaming/tracks/101?starttime=")
    expect(playback).to_have_attribute("href", re.compile(r"^rtsp://127\.0\.0\.1:554/"))
    expect(card.locator("[data-recording-links]")).to_contain_text("open it in VLC")
    image = card.locator("[data-snapshot] img")
    expect(image).to_be_visible()
    width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width == 320  # the browser fetched and decoded the stored JPEG
    expect(card.locator("[data-snapshot] figcaption")).to_contain_text(
        body["snapshots"][0]["sha256"]
    )
    shot(page, "event-recorders")
    # an annotation's own page points back to its alarm
    page.goto(f"{appliance.url}/events/{body['actions'][0]['seq']}")
    expect(
        page.locator("[data-annotates]").get_by_role("link", name=f"event {seq}")
    ).to_be_visible()
