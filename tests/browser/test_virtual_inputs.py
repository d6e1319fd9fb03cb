"""Virtual inputs in a real browser (#21): added on the Inputs page, signalled by
its buttons, the live badge and the relay follow; configured like a wired input."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Appliance, shot


def test_add_signal_and_configure_a_virtual_input(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/inputs")
    expect(page.get_by_text("No virtual inputs yet.")).to_be_visible()
    add = page.locator("form[data-add-virtual]")
    add.get_by_label("Name of a new virtual input").fill("Yard camera")
    add.get_by_role("button", name="Add V1").click()
    form = page.locator('form[data-config="virtual-inputs"][data-n="1"]')
    expect(form.locator("[data-title]")).to_have_text("Yard camera")
    form.get_by_label("2: OUT2").check()
    form.get_by_role("button", name="Save V1").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    assert appliance.api("GET", "/api/v1/virtual-inputs/1")["outputs"] == [2]

    badge = form.locator("[data-live-virtual]")
    expect(badge).to_have_text("normal")
    form.get_by_role("button", name="Signal active").click()
    expect(badge).to_have_text("ACTIVE")  # the live status, without a reload
    assert appliance.api("GET", "/api/v1/status")["outputs"][1]["energised"] is True
    shot(page, "virtual-inputs")
    form.get_by_role("button", name="Signal normal").click()
    expect(badge).to_have_text("normal")
    assert appliance.api("GET", "/api/v1/status")["outputs"][1]["energised"] is False
