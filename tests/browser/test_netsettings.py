"""The destinations' settings on the Integrations page, in a real browser, against
'alarmbridge run' (io, network and web processes) and a webhook receiver: an admin
adds a webhook, saves it, sends a test; a wrong setting is named beside its field;
unsaved changes are noticed; a stored secret comes back masked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Appliance, shot
from tests.browser.test_integrations import until
from tests.browser.webhook_peer import Posts, webhook_receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def hooks() -> Iterator[Posts]:
    with webhook_receiver() as posts:
        yield posts


@pytest.fixture
def appliance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Appliance]:
    """'alarmbridge run' with no destination from the environment."""
    for name in ("MQTT_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "SMTP_URL", "APPRISE_URL"):
        monkeypatch.delenv(f"ALARMBRIDGE_{name}", raising=False)
    running = Appliance(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.allow_page_errors  # the browser logs the server's 422 answer
def test_an_admin_adds_a_webhook_saves_it_and_sends_a_test(
    appliance: Appliance,
    page: Page,
    page_errors: list[str],
    hooks: tuple[str, list[dict[str, Any]]],
) -> None:
    url, got = hooks
    page.goto(appliance.url + "/integrations")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()

    page.get_by_role("button", name="Add a webhook").click()
    form = page.locator('form[data-net="webhook"]').last
    form.get_by_label("Name").fill("vms")
    form.get_by_label("URL").fill(url)
    form.get_by_label("Signing secret").fill(SECRET)
    expect(form.locator("[data-unsaved]")).to_be_visible()
    assert page.evaluate("AB.unsaved().length") >= 1  # the page asks before it is left
    form.get_by_role("button", name="Save webhook").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved at")
    expect(form.locator("[data-unsaved]")).to_be_hidden()
    expect(form.get_by_label("Signing secret")).to_have_value("********")
    form.get_by_role("button", name="Send test").click()
    expect(form.locator("[data-saved]")).to_contain_text("Test sent")
    until(page, lambda: any(p["type"] == "alarmbridge.test" for p in got), "the test post")
    assert "webhook-signature" in got[-1]["headers"]

    # a wrong setting: named beside its field by the server, nothing saved
    mqtt = page.locator('form[data-net="mqtt"]')
    mqtt.get_by_label("Enabled").check()
    mqtt.get_by_role("button", name="Save MQTT").click()
    expect(mqtt.locator('[data-error-for="url"]')).to_contain_text("broker's URL")
    assert (
        appliance.api("GET", "/api/v1/integrations/settings")["document"]["mqtt"]["enabled"]
        is False
    )

    # after a reload: the webhook is there, its secret masked, and it delivers
    page.reload()
    saved = page.locator('form[data-net="webhook"][data-index="0"]')
    expect(saved.get_by_label("Name")).to_have_value("vms")
    expect(saved.get_by_label("Signing secret")).to_have_value("********")
    expect(page.locator('[data-destination="vms"]')).to_be_visible()
    assert SECRET not in page.content()
    shot(page, "integrations-settings")

    # removed: gone from the status and the settings
    page.once("dialog", lambda dialog: dialog.accept())
    saved.get_by_role("button", name="Remove").click()
    expect(page.locator('[data-destination="vms"]')).to_have_count(0)
    assert appliance.api("GET", "/api/v1/integrations/settings")["document"]["webhooks"] == []


@pytest.mark.allow_page_errors  # the browser logs the server's 422 answer
def test_the_sia_form_sets_the_sender_and_a_panel_account(
    appliance: Appliance, page: Page, page_errors: list[str]
) -> None:
    page.goto(appliance.url + "/integrations")
    form = page.locator('form[data-net="sia"]')
    form.get_by_label("Primary receiver: host").fill("127.0.0.1")
    form.get_by_label("Primary receiver: port").fill("9")
    form.locator('input[name="sender.account"]').fill("5A1")
    form.locator('input[name="sender.key"]').fill("0123456789abcdef")
    form.get_by_label("Enabled").first.check()
    form.get_by_role("button", name="Add a panel account").click()
    account = form.locator("[data-sia-account]").last
    account.get_by_label("Account").fill("1234")
    account.get_by_label("AES key").fill("fedcba9876543210")
    account.get_by_label("Zones to virtual inputs").fill("3:1, two")
    form.get_by_role("button", name="Save SIA").click()
    expect(account.locator('[data-error-for="receiver.accounts.0.zones"]')).to_contain_text(
        "'two' is not zone:V"
    )
    account.get_by_label("Zones to virtual inputs").fill("3:1, 2/4:V2")
    account.get_by_label("AES key").fill("short")
    form.get_by_role("button", name="Save SIA").click()
    expect(account.locator('[data-error-for="receiver.accounts.0.key"]')).not_to_be_empty()
    account.get_by_label("AES key").fill("fedcba9876543210")
    form.get_by_role("button", name="Save SIA").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved at")

    sia = appliance.api("GET", "/api/v1/integrations/settings")["document"]["sia"]
    assert sia["sender"]["enabled"] is True
    assert sia["sender"]["primary"] == {"host": "127.0.0.1", "port": 9}
    assert sia["sender"]["account"] == "5A1"
    assert sia["sender"]["key"] == "********"
    (panel,) = sia["receiver"]["accounts"]
    assert panel["account"] == "1234" and panel["key"] == "********"
    assert panel["zones"] == [
        {"zone": 3, "area": None, "virtual": 1},
        {"zone": 4, "area": 2, "virtual": 2},
    ]
    page.reload()
    form = page.locator('form[data-net="sia"]')
    expect(
        form.locator("[data-sia-account]").get_by_label("Zones to virtual inputs")
    ).to_have_value("3:1, 2/4:2")
    expect(form.locator('input[name="sender.key"]')).to_have_value("********")
    json_editor = page.locator('form[data-net="sia-json"] textarea')
    assert '"account": "1234"' in json_editor.input_value()

    # the Contact ID codes and the zone numbers per channel, in the form too
    expect(form.get_by_label("Alarm input")).to_have_value("130")  # the defaults shown
    form.get_by_label("Alarm input").fill("131")
    form.get_by_label("Zone numbers").fill("IN1:11, IN2")
    form.get_by_role("button", name="Save SIA").click()
    expect(form.locator('[data-error-for="sender.zones"]')).to_contain_text(
        "'IN2' is not name:zone"
    )
    form.get_by_label("Zone numbers").fill("IN1:11, IN2:12")
    form.locator('input[name="sender.codes.fault"]').fill("99")  # below 100: the server says so
    form.get_by_role("button", name="Save SIA").click()
    expect(form.locator('[data-error-for="sender.codes.fault"]')).not_to_be_empty()
    form.locator('input[name="sender.codes.fault"]').fill("300")
    form.get_by_role("button", name="Save SIA").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved at")
    sender = appliance.api("GET", "/api/v1/integrations/settings")["document"]["sia"]["sender"]
    assert sender["codes"]["alarm"] == 131 and sender["codes"]["fault"] == 300
    assert sender["zones"] == {"IN1": 11, "IN2": 12}
    assert sender["key"] == "********"  # the stored key kept
    page.reload()
    form = page.locator('form[data-net="sia"]')
    expect(form.get_by_label("Zone numbers")).to_have_value("IN1:11, IN2:12")
    expect(form.get_by_label("Alarm input")).to_have_value("131")
