"""The Integrations page in a real browser: the network process under 'alarmbridge
run' delivering to a webhook receiver; an admin sends a test and replays."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Appliance, shot
from tests.browser.webhook_peer import Posts, webhook_receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def posts() -> Iterator[Posts]:
    with webhook_receiver() as posts:
        yield posts


@pytest.fixture
def appliance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, posts: tuple[str, list[dict[str, Any]]]
) -> Iterator[Appliance]:
    """'alarmbridge run' with a webhook destination (the environment it inherits)."""
    monkeypatch.setenv("ALARMBRIDGE_WEBHOOK_URL", posts[0])
    monkeypatch.setenv("ALARMBRIDGE_WEBHOOK_SECRET", SECRET)
    running = Appliance(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


def until(page: Page, condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Wait for the receiver (a thread of this process) to get something: it is asynchronous."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not arrive within {timeout_s:g} s"
        page.wait_for_timeout(50)


def test_an_admin_sees_the_webhook_sends_a_test_and_replays(
    appliance: Appliance, page: Page, posts: tuple[str, list[dict[str, Any]]]
) -> None:
    got = posts[1]
    page.goto(appliance.url + "/integrations")
    expect(page.get_by_role("link", name="Integrations")).to_have_attribute("aria-current", "page")
    card = page.locator('[data-destination="webhook"]')
    expect(card).to_be_visible()
    expect(card.get_by_role("heading", name="webhook")).to_be_visible()
    card.get_by_role("button", name="Send a test message").click()
    expect(page.locator('[data-destination="webhook"]')).to_be_visible()  # reloaded
    until(page, lambda: any(p["type"] == "alarmbridge.test" for p in got), "the test post")
    appliance.api("POST", "/api/v1/simulation/inputs/1", {"closed": True})
    until(page, lambda: any(p["type"] == "alarmbridge.input" for p in got), "the input's event")
    caught: list[int] = []

    def caught_up() -> bool:  # the cursor moves once a post is acknowledged, just after it
        (webhook,) = appliance.api("GET", "/api/v1/integrations")["destinations"]
        seqs = [p["data"]["seq"] for p in got if p["type"] != "alarmbridge.test"]
        if webhook["backlog"] == 0 and webhook["last_delivered_seq"] == max(seqs):
            caught.append(max(seqs))
        return bool(caught)

    until(page, caught_up, "the webhook's status caught up with what it received")
    page.reload()
    delivered = [p["data"]["seq"] for p in got if p["type"] != "alarmbridge.test"]
    card_text = page.locator('[data-destination="webhook"]').inner_text()
    shown = re.search(r"Last delivered\s*event (\d+)", card_text)
    assert shown, "the card shows no last delivered event"
    # (a relay's event may follow the input's: the card shows the newest delivered then)
    assert int(shown.group(1)) >= caught[0] and int(shown.group(1)) in delivered
    before = len(got)
    form = page.locator('[data-replay="webhook"]')
    form.get_by_label("Send again from event").fill(str(delivered[0]))
    form.get_by_role("button", name="Replay").click()
    until(page, lambda: len(got) > before, "the replayed events")
    shot(page, "integrations")


def test_a_replay_from_nothing_says_what_is_wrong(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/integrations")
    form = page.locator('[data-replay="webhook"]')
    form.get_by_label("Send again from event").fill("")
    form.get_by_role("button", name="Replay").click()
    expect(form.locator("[data-form-error]")).to_contain_text("event number")


def test_the_integrations_page_fits_a_phone(appliance: Appliance, phone_page: Page) -> None:
    phone_page.goto(appliance.url + "/integrations")
    expect(phone_page.locator('[data-destination="webhook"]')).to_be_visible()
    overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
