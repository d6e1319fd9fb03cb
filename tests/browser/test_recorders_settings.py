"""The "Recorders and cameras" section of the Integrations page, in a real browser,
against 'alarmbridge run' (io, network and web processes) and the recorder peer with
real Digest authentication (tests/actions/peer.py): an admin saves a section (a wrong
one first, its problems listed by path), its passwords come back masked, and the Test
buttons reach the NVR (issue #20)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.actions.peer import Peer, Reply, running_peer
from tests.browser.conftest import SCREENSHOTS, Appliance
from tests.recorders.conftest import DIGEST, ISAPI_OK, PICTURE, START, STOP, small_jpeg

PASSWORD = str(DIGEST["password"])


@pytest.fixture
def recorder() -> Iterator[Peer]:
    """A Hikvision NVR: manual recording on channel 3 and its picture, HTTP Digest."""
    with running_peer("digest") as peer:
        peer.answer("PUT", START, Reply(200, ISAPI_OK, "application/xml"))
        peer.answer("PUT", STOP, Reply(200, ISAPI_OK, "application/xml"))
        peer.answer("GET", PICTURE, Reply(200, small_jpeg(), "image/jpeg"))
        yield peer


@pytest.fixture
def appliance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Appliance]:
    """'alarmbridge run' with no recorders file."""
    monkeypatch.delenv("ALARMBRIDGE_RECORDERS_FILE", raising=False)
    running = Appliance(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


def section(peer: Peer, input_name: str, action: str = "NVR CH3") -> dict[str, Any]:
    return {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": peer.url,
                "channel": 3,
                "auth": DIGEST,
            }
        ],
        "cameras": [{"kind": "http", "camera": "CH3", "url": peer.url + PICTURE, "auth": DIGEST}],
        "links": {input_name: {"on_alarm": [action], "on_clear": [action], "cameras": ["CH3"]}},
    }


@pytest.mark.allow_page_errors  # the browser logs the server's 422 answer
def test_an_admin_saves_the_recorders_and_tests_the_nvr_and_its_camera(
    appliance: Appliance, page: Page, page_errors: list[str], recorder: Peer
) -> None:
    door = appliance.api("GET", "/api/v1/config")["inputs"][0]["name"]
    page.goto(appliance.url + "/integrations")
    part = page.locator("[data-recorders]")
    expect(part.get_by_role("heading", name="Recorders and cameras")).to_be_visible()
    expect(part.locator("[data-recorders-origin]")).to_have_text("none configured")
    expect(part.locator("[data-recorder-tests]")).to_contain_text("Nothing to test")
    form = part.locator('form[data-net="recorders"]')
    editor = form.get_by_label("Recorders and cameras (JSON)")

    # the worked example fills the editor (a Hikvision NVR on IN1)
    part.locator("[data-recorders-example] summary").click()
    part.get_by_role("button", name="Use this example").click()
    assert '"hikvision-record"' in editor.input_value()
    expect(form.locator("[data-unsaved]")).to_be_visible()

    # not JSON, then a link to an action that does not exist: named by path, nothing saved
    editor.fill("{ not json")
    form.get_by_role("button", name="Save recorders").click()
    expect(form.locator("[data-recorders-problems]")).to_contain_text("not valid JSON")
    editor.fill(json.dumps(section(recorder, door, action="NVR CH9"), indent=2))
    form.get_by_role("button", name="Save recorders").click()
    problem = form.locator(f'[data-problem-for="recorders.links.{door}.on_alarm"]')
    expect(problem).to_contain_text("no action 'NVR CH9' (the actions: NVR CH3)")
    stored = appliance.api("GET", "/api/v1/integrations/settings")
    assert stored["document"]["recorders"]["actions"] == []

    editor.fill(json.dumps(section(recorder, door), indent=2))
    form.get_by_role("button", name="Save recorders").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved at")
    expect(form.locator("[data-saved]")).to_contain_text("recorders")
    expect(form.locator("[data-recorders-problems] li")).to_have_count(0)
    assert '"password": "********"' in editor.input_value()
    expect(part.locator("[data-recorders-origin]")).to_have_text("running")
    expect(part.locator("[data-recorders-status]")).to_contain_text("Done up to event")

    # Test: the NVR's alarm and clear, then one picture from the camera
    part.get_by_role("button", name="Test NVR CH3").click()
    nvr = part.locator('[data-recorder="NVR CH3"] [data-test-result]')
    expect(nvr).to_contain_text("Alarm: ok")
    expect(nvr).to_contain_text("Clear: ok")
    authorized = {(s.method, s.target) for s in recorder.authorized_requests()}
    assert {("PUT", START), ("PUT", STOP)} <= authorized
    part.get_by_role("button", name="Test CH3").click()
    expect(part.locator('[data-recorder="CH3"] [data-test-result]')).to_contain_text(
        "Snapshot: 64x48"
    )

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the section alone (docs/recorders.md)
    part.screenshot(path=str(SCREENSHOTS / "integrations-recorders.png"))

    # after a reload: the section as stored, its passwords masked, nowhere in the page
    page.reload()
    editor = page.locator('form[data-net="recorders"] textarea')
    assert '"name": "NVR CH3"' in editor.input_value()
    assert PASSWORD not in page.content()
