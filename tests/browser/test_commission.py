"""Issue #19's commissioning flows in a real browser (Debian's Chromium driven by
Playwright) against the real appliance (``alarmbridge run`` on simulated pins):
seconds and recorder-style choices, follow-then-hold, the recorder profile,
bypass and the arming override, and the walk test with its report on a phone."""

from __future__ import annotations

import csv
import io
import urllib.request

from playwright.sync_api import Page, expect

from tests.browser.conftest import Appliance, shot
from tests.web.conftest import wait_for


def test_outputs_in_seconds_follow_then_hold_and_the_recorders_words(
    appliance: Appliance, page: Page
) -> None:
    page.goto(appliance.url + "/outputs")
    form = page.locator('form[data-n="1"]')
    advice = form.locator("[data-recorder-advice]")
    expect(advice).to_contain_text("Another recorder")
    form.locator('select[name="recorder"]').select_option("avtech")
    expect(advice).to_contain_text('set alarm input CH1 to "N.C."')  # close on alarm
    form.get_by_label("open on alarm").check()
    expect(advice).to_contain_text('set alarm input CH1 to "N.O."')
    form.get_by_label("close on alarm").check()
    hold_time = form.locator('input[name="hold_ms"]')
    expect(hold_time).to_be_hidden()  # follow: no hold time
    form.get_by_label("follow, then hold").check()
    expect(hold_time).to_be_visible()
    form.get_by_label("Hold time: a usual choice").select_option("10")
    expect(hold_time).to_have_value("10")
    form.locator('input[name="min_off_ms"]').fill("1.5")
    expect(form.get_by_label("Minimum off time: a usual choice")).to_have_value("custom")
    shot(page, "outputs")
    form.get_by_role("button", name="Save output 1").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    saved = appliance.api("GET", "/api/v1/outputs/1")
    assert (saved["hold"], saved["hold_ms"], saved["min_off_ms"], saved["recorder"]) == (
        "follow-hold",
        10_000,
        1500,
        "avtech",
    )
    # Back to plain follow: the hidden hold time is sent as 0, and accepted.
    form.get_by_label("follow the source").check()
    form.get_by_role("button", name="Save output 1").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    assert appliance.api("GET", "/api/v1/outputs/1")["hold_ms"] == 0


def test_follow_then_hold_on_the_dashboard(appliance: Appliance, page: Page) -> None:
    out1 = appliance.api("GET", "/api/v1/outputs/1")
    appliance.api("PUT", "/api/v1/outputs/1", {**out1, "hold": "follow-hold", "hold_ms": 30_000})
    page.goto(appliance.url + "/")
    expect(page.locator("#live")).to_have_text("live")
    in1 = page.locator('[data-input="1"]')
    card = page.locator('[data-output="1"]')
    in1.get_by_role("switch").check()
    expect(card).to_have_attribute("data-state", "active")
    in1.get_by_role("switch").uncheck()
    expect(in1).to_have_attribute("data-state", "normal")
    expect(card).to_have_attribute("data-state", "active")  # held after the alarm
    expect(card.locator('[data-field="time_left"]')).to_contain_text(" s")
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="OUT1").filter(has_text="holding")).to_have_count(1)


def test_the_start_picker_has_10_s_and_a_custom_time(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/")
    card = page.locator('[data-output="2"]')
    picker = card.locator("select[data-duration-for]")
    custom = card.locator("input[data-custom-duration-for]")
    expect(custom).to_be_hidden()
    picker.select_option(label="custom…")
    expect(custom).to_be_visible()
    custom.fill("42")
    card.get_by_role("button", name="Start").click()
    expect(page.locator("[data-action-message]")).to_have_text("Output 2 started for 42 s.")
    left = appliance.api("GET", "/api/v1/status")["outputs"][1]["time_left_ms"]
    assert 30_000 < left <= 42_000
    picker.select_option(label="10 s")
    expect(custom).to_be_hidden()


def test_bypass_an_input_and_disarm_everything_from_the_dashboard(
    appliance: Appliance, page: Page
) -> None:
    page.goto(appliance.url + "/")
    card = page.locator("[data-overrides]")
    expect(card.locator("[data-no-overrides]")).to_be_visible()
    card.get_by_label("What").select_option(label="bypass IN3")
    card.get_by_label("For").select_option(label="4 hours")
    card.get_by_label("Reason").fill("PIR being replaced")
    card.get_by_role("button", name="Apply").click()
    expect(card.locator("[data-override-list]")).to_contain_text("IN3 bypassed until")
    expect(card.locator("[data-override-list]")).to_contain_text("(PIR being replaced)")
    # The bypassed input's alarm drives nothing.
    in3 = page.locator('[data-input="3"]')
    in3.get_by_role("switch").check()
    expect(in3).to_have_attribute("data-state", "disarmed")  # not red: the DVR is not told
    expect(in3.locator('[data-field="state"]')).to_have_text("bypassed")
    expect(in3).to_contain_text("bypassed by an operator for a while")
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="IN3").filter(has_text="alarm-bypassed")).to_have_count(1)
    assert appliance.api("GET", "/api/v1/status")["outputs"][2]["active"] is False
    card.get_by_label("What").select_option(label="disarm every alarm input")
    card.get_by_label("For").select_option(label="1 hour")
    card.get_by_role("button", name="Apply").click()
    expect(card.locator("[data-override-list]")).to_contain_text("DISARMED until")
    shot(page, "dashboard-overrides")
    page.goto(appliance.url + "/schedules")
    expect(page.locator('[data-timeline-row="input-3"] rect').first).to_have_attribute(
        "data-state", "bypassed"
    )
    expect(page.locator('[data-timeline-row="input-1"] rect').first).to_have_attribute(
        "data-state", "override-disarmed"
    )
    shot(page, "schedules-overrides")
    page.goto(appliance.url + "/")
    card.locator("li", has_text="IN3").get_by_role("button", name="End now").click()
    expect(card.locator("[data-override-list]")).not_to_contain_text("IN3")
    assert appliance.api("GET", "/api/v1/status")["outputs"][2]["active"] is False  # disarmed
    card.locator("li", has_text="DISARMED").get_by_role("button", name="End now").click()
    expect(card.locator("[data-no-overrides]")).to_be_visible()
    wait_for(lambda: appliance.api("GET", "/api/v1/status")["outputs"][2]["active"])


def test_a_walk_test_on_a_phone_and_its_report(appliance: Appliance, phone_page: Page) -> None:
    page = phone_page
    page.goto(appliance.url + "/walk-test")
    expect(page.locator("#live")).to_have_text("live")
    expect(page.get_by_text("Linked relays fire during a walk test")).to_be_visible()
    page.get_by_role("button", name="Start walk test").click()
    row2 = page.locator('[data-walk-input="2"]')
    expect(row2).to_contain_text("waiting…")
    # The installer opens door 2 (a simulated contact, as the wire would).
    appliance.api("POST", "/api/v1/simulation/inputs/2", {"closed": True})
    expect(row2).to_contain_text("✓ tested")
    appliance.api("POST", "/api/v1/simulation/inputs/2", {"closed": False})
    expect(row2.locator("td").nth(2)).to_have_text("2 / 0")  # two changes, no bounce
    expect(page.locator("[data-walk-count]")).to_have_text("1 of 4 inputs seen.")
    out = page.locator('[data-walk-output="3"]')
    out.get_by_role("button", name="Pulse CH3 for 5 s").click()
    expect(page.locator("[data-walk-message]")).to_contain_text("did the recorder mark it?")
    out.get_by_role("button", name="Yes").click()
    expect(out.locator("[data-walk-result]")).to_contain_text("✓ marked an alarm")
    shot(page, "walk-test-phone")
    page.get_by_role("button", name="End walk test and make the report").click()
    expect(page).to_have_url(appliance.url + "/walk-test/report")
    expect(page.get_by_role("heading", name="Commissioning report")).to_be_visible()
    expect(page.locator("table").first).to_contain_text("NOT TESTED")  # IN1 was not walked
    expect(page.locator("table").nth(1)).to_contain_text("marked an alarm")
    shot(page, "walk-test-report-phone")
    request = urllib.request.Request(
        appliance.url + "/api/v1/walk-test/report?format=csv", headers=appliance.auth
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        rows = list(csv.reader(io.StringIO(reply.read().decode())))
    assert [r[4] for r in rows[1:5]] == ["NOT TESTED", "tested", "NOT TESTED", "NOT TESTED"]
    assert rows[7][:3] == ["output", "3", "OUT3"] and rows[7][4] == "marked"
