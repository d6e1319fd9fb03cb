"""The web UI in a real browser (Debian's Chromium driven by Playwright) against the
real appliance: ``alarmbridge run`` on simulated pins, as ``make run`` starts it."""

from __future__ import annotations

import csv
import io
import os
import signal
import time

import pytest
from playwright.sync_api import Page, expect

from app.io.protocol import Client
from tests.browser.conftest import Appliance, shot
from tests.support import wait_for


def test_flipping_a_simulated_input_updates_dashboard_and_log_live(
    appliance: Appliance, page: Page
) -> None:
    log = page.context.new_page()
    log.goto(appliance.url + "/events")
    page.goto(appliance.url + "/")
    expect(page.locator("#live")).to_have_text("live")
    expect(log.locator("#live")).to_have_text("live")
    in1 = page.locator('[data-input="1"]')
    out1 = page.locator('[data-output="1"]')
    expect(in1.locator('[data-field="state"]')).to_have_text("normal")
    shot(page, "dashboard-idle")

    in1.get_by_role("switch").check()  # close IN1's contact

    expect(in1).to_have_attribute("data-state", "alarm")
    expect(in1.locator('[data-field="contact"]')).to_have_text("closed")
    expect(out1).to_have_attribute("data-state", "active")
    expect(out1.locator('[data-field="cause"]')).to_have_text("input: IN1")
    recent = page.locator("table.events tbody tr")
    expect(recent.filter(has_text="OUT1").filter(has_text="active")).to_have_count(1)
    # The event log page, opened before, shows both rows without a reload.
    rows = log.locator("table.events tbody tr")
    expect(rows.filter(has_text="IN1").filter(has_text="alarm")).to_have_count(1)
    expect(rows.filter(has_text="OUT1").filter(has_text="CH1")).to_have_count(1)
    shot(page, "dashboard")
    shot(log, "events-live")

    in1.get_by_role("switch").uncheck()
    expect(out1).to_have_attribute("data-state", "idle")
    expect(rows.filter(has_text="IN1").filter(has_text="normal")).to_have_count(1)
    log.close()


def test_changing_an_input_from_no_to_nc_takes_effect(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/inputs")
    form = page.locator('form[data-n="1"]')
    badge = form.locator("[data-live-input]")
    expect(badge).to_have_text("open, normal")
    form.get_by_label("NC: normally closed").check()
    form.get_by_role("button", name="Save input 1").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    # An open contact on an NC input is an alarm: the badge and the relay follow at once.
    expect(badge).to_have_text("open, ALARM")
    shot(page, "inputs")
    page.goto(appliance.url + "/")
    expect(page.locator('[data-output="1"]')).to_have_attribute("data-state", "active")
    expect(page.locator('[data-input="1"] [data-field="contact_type"]')).to_have_text("NC")
    assert appliance.api("GET", "/api/v1/inputs/1")["contact"] == "NC"


@pytest.mark.allow_page_errors  # the browser logs the server's 422 answer
def test_settings_are_checked_inline_and_by_the_server(
    appliance: Appliance, page: Page, page_errors: list[str]
) -> None:
    page.goto(appliance.url + "/inputs")
    form = page.locator('form[data-n="2"]')
    response = form.get_by_label("Response time (ms)")
    response.fill("20000")
    expect(form.locator('[data-error-for="response_ms"]')).not_to_be_empty()
    expect(response).to_have_attribute("aria-invalid", "true")
    form.get_by_role("button", name="Save input 2").click()
    expect(form.locator('[data-error-for=""]')).to_contain_text("correct the fields")
    assert appliance.api("GET", "/api/v1/inputs/2")["response_ms"] == 50  # not sent
    response.fill("100")
    form.get_by_label("Name").fill("IN1")  # taken by input 1: only the server knows
    form.get_by_role("button", name="Save input 2").click()
    expect(form.locator('[data-error-for=""]')).to_contain_text("names must be unique: IN1")
    assert appliance.api("GET", "/api/v1/inputs/2")["name"] == "IN2"
    shot(page, "inputs-error")
    assert page_errors and all("422" in e for e in page_errors)


def test_start_and_stop_an_output(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/")
    out2 = page.locator('[data-output="2"]')
    out2.get_by_role("button", name="Start").click()
    expect(out2).to_have_attribute("data-state", "active")
    expect(out2.locator('[data-field="time_left"]')).to_have_text("until stopped")
    expect(out2.locator('[data-field="cause"]')).to_have_text("user: admin")  # the logged-in user
    expect(page.locator("[data-action-message]")).to_have_text("Output 2 started until stopped.")
    out2.get_by_role("button", name="Stop").click()
    expect(out2).to_have_attribute("data-state", "idle")
    # For a set time: the time left counts down on the page.
    out2.locator("select").select_option("30")
    out2.get_by_role("button", name="Start").click()
    left = out2.locator('[data-field="time_left"]')
    expect(left).to_contain_text(" s")
    first = float(left.inner_text().split()[0])
    page.wait_for_timeout(1200)
    assert float(left.inner_text().split()[0]) < first
    out2.get_by_role("button", name="Stop").click()
    expect(out2).to_have_attribute("data-state", "idle")
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="manual-start")).to_have_count(2)
    expect(rows.filter(has_text="manual-stop")).to_have_count(2)


def test_manual_trigger_and_the_simulated_button(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/simulation")
    button = page.get_by_role("button", name="Press and hold")
    button.hover()
    page.mouse.down()
    for n in (1, 2, 3, 4):  # the button starts every DVR output for 3 s
        expect(page.locator(f'[data-output="{n}"]')).to_have_attribute("data-state", "active")
    page.mouse.up()
    shot(page, "simulation")
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="manual-trigger").filter(has_text="button")).to_have_count(1)
    page.goto(appliance.url + "/")
    page.get_by_role("button", name="Manual trigger").click()
    expect(page.locator("[data-action-message]")).to_have_text("Manual trigger sent.")
    # the click's own row (the button's row from the simulation page is listed too)
    triggered = page.locator("table.events tbody tr").filter(has_text="manual-trigger")
    expect(triggered.filter(has_text="user: admin")).to_have_count(1)
    expect(triggered).to_have_count(2)


def test_event_log_filters_chart_and_csv(appliance: Appliance, page: Page) -> None:
    for closed in (True, False, True, False):
        appliance.api("POST", "/api/v1/simulation/inputs/3", {"closed": closed})
        time.sleep(0.15)
    page.goto(appliance.url + "/events")
    expect(page.locator("svg.chart rect").first).to_be_visible()
    page.locator('form.filters select[name="channel"]').select_option("IN3")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(4)
    for text in rows.all_inner_texts():
        assert "IN3" in text
    shot(page, "events")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    path = download.value.path()
    data = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["state"] for r in data] == ["alarm", "normal", "alarm", "normal"]
    assert {r["channel"] for r in data} == {"IN3"}
    assert download.value.suggested_filename.endswith(".csv")


def test_outputs_and_system_pages(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/outputs")
    form = page.locator('form[data-n="3"]')
    pulse_on = form.get_by_label("Pulse on (ms)")
    expect(pulse_on).to_be_hidden()  # only for pulse mode
    form.get_by_label("pulse", exact=True).check()
    expect(pulse_on).to_be_visible()
    pulse_on.fill("250")
    form.get_by_role("button", name="Save output 3").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    saved = appliance.api("GET", "/api/v1/outputs/3")
    assert (saved["mode"], saved["pulse_on_ms"]) == ("pulse", 250)
    shot(page, "outputs")
    page.goto(appliance.url + "/system")
    expect(page.get_by_role("cell", name="IN1", exact=True)).to_be_visible()
    expect(page.get_by_text("gpio=", exact=False)).to_be_visible()
    shot(page, "system")
    page.goto(appliance.url + "/docs")
    expect(page.get_by_text("/api/v1/events/stream")).to_be_visible()


def test_dashboard_fits_a_phone(appliance: Appliance, phone_page: Page) -> None:
    phone_page.goto(appliance.url + "/")
    expect(phone_page.locator("#live")).to_have_text("live")
    overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    phone_page.locator('[data-input="2"]').get_by_role("switch").tap()
    expect(phone_page.locator('[data-output="2"]')).to_have_attribute("data-state", "active")
    shot(phone_page, "dashboard-phone")


@pytest.mark.allow_page_errors  # the browser logs the refused connections while it is down
def test_the_page_reconnects_after_the_web_process_dies(
    appliance: Appliance, page: Page, page_errors: list[str]
) -> None:
    page.goto(appliance.url + "/")
    expect(page.locator("#live")).to_have_text("live")
    first_web = appliance.pid("web")
    os.kill(first_web, signal.SIGKILL)
    expect(page.locator("#live")).to_have_text("reconnecting…")
    # Meanwhile the io process goes on: an input still drives its relay.
    io = Client(appliance.data_dir / "io.sock")
    io.request("sim", action="close", input=4)
    wait_for(lambda: io.request("status")["outputs"][3]["energised"])
    # The supervisor restarts the web process; the page reconnects by itself and
    # shows what happened while it was away.
    expect(page.locator("#live")).to_have_text("live", timeout=20_000)
    expect(page.locator('[data-output="4"]')).to_have_attribute("data-state", "active")
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="IN4").filter(has_text="alarm")).to_have_count(1)
    expect(rows.filter(has_text="OUT4").filter(has_text="active")).to_have_count(1)
    assert appliance.pid("web") != first_web
    assert page_errors, "the browser should have seen the refused connections"
