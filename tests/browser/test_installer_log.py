"""The log an auditor can use, and the phone layouts (#19), in a real browser (Debian's
Chromium) against the real appliance."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE_VIEWPORT, Appliance, shot

LONG = "Warehouse-loading-bay-door-north-side-01"  # 40 characters, no space to break at


def fits(page: Page, selector: str) -> None:
    """Nothing in ``selector`` sticks out past the page's width."""
    width = page.evaluate("document.documentElement.clientWidth")
    overflow = page.evaluate(
        """([selector, width]) => Array.from(document.querySelectorAll(selector))
             .filter((n) => n.getBoundingClientRect().right > width + 1).length""",
        [selector, width],
    )
    assert overflow == 0, f"{overflow} of {selector} stick out past {width} px"


def test_a_config_change_reads_in_words_and_has_its_own_page(
    appliance: Appliance, page: Page
) -> None:
    page.goto(appliance.url + "/inputs")
    form = page.locator('form[data-n="1"]')
    form.get_by_label("NC: normally closed").check()
    form.get_by_role("button", name="Save input 1").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    page.goto(appliance.url + "/events?kind=config")
    row = page.locator("table.events tbody tr").first
    expect(row).to_contain_text("IN1 contact NO -> NC, by admin")
    seq = row.get_attribute("data-seq")
    row.get_by_role("link").click()
    expect(page).to_have_url(f"{appliance.url}/events/{seq}")
    expect(page.locator("h1")).to_contain_text("config changed")
    expect(page.locator("[data-changes] li")).to_have_text(["IN1 contact NO -> NC"])
    fields = page.locator("[data-event-fields]")
    expect(fields).to_contain_text("Source (who or what)")
    expect(fields).to_contain_text("admin")
    shot(page, "event-detail")


def test_the_log_says_what_is_wrong_with_its_filters(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/events?since=2026-12-07T10:00&until=2026-12-07T09:00&limit=abc")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    box = page.locator("[data-filter-problems]")
    expect(box).to_contain_text("From (2026-12-07 10:00:00) is not before Until")
    expect(box).to_contain_text("Per page must be a whole number from 1 to 1000, not 'abc'")
    shot(page, "events-filter-error")


def test_long_names_wrap_in_the_desktop_event_table(appliance: Appliance, page: Page) -> None:
    in1 = appliance.api("GET", "/api/v1/inputs/1")
    appliance.api("PUT", "/api/v1/inputs/1", {**in1, "name": LONG})
    appliance.api("POST", "/api/v1/simulation/inputs/1", {"closed": True})
    page.goto(appliance.url + "/events")
    expect(page.locator("table.events tbody tr").filter(has_text=LONG).first).to_be_visible()
    wrap = page.locator(".table-wrap").last
    assert wrap.evaluate("n => n.scrollWidth <= n.clientWidth"), "the table scrolls sideways"
    fits(page, "table.events td")
    shot(page, "events-long-names")


@pytest.mark.parametrize("path", ["/", "/events", "/users"])
def test_phone_pages_have_a_menu_button_and_fit(
    appliance: Appliance, phone_page: Page, path: str
) -> None:
    appliance.api("POST", "/api/v1/simulation/inputs/2", {"closed": True})
    phone_page.goto(appliance.url + path)
    nav = phone_page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    menu = phone_page.get_by_role("button", name="Menu")
    menu.click()
    expect(nav).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Event log")).to_be_visible()
    menu.click()
    expect(nav).to_be_hidden()
    banners = phone_page.locator(".banner:visible")
    if path == "/":
        expect(banners).to_have_count(1)  # simulated pins
    for n in range(banners.count()):
        box = banners.nth(n).bounding_box()
        assert box is not None and box["height"] < PHONE_VIEWPORT["height"] * 0.08
    header = phone_page.locator("header.top").bounding_box()
    assert header is not None and header["height"] < PHONE_VIEWPORT["height"] * 0.1
    if path == "/events":
        rows = phone_page.locator("table.events tbody tr")
        expect(rows.first).to_be_visible()
        for column in ("State", "Cause"):
            cell = rows.first.locator(f'td[data-label="{column}"]')
            expect(cell).to_be_visible()
        fits(phone_page, "table.events td")
        shot(phone_page, "events-phone")
    if path == "/users":
        expect(phone_page.locator('tr[data-user="admin"]')).to_be_visible()
        fits(phone_page, "table.users button, table.users select, form button")
        shot(phone_page, "users-phone")
    if path == "/":
        shot(phone_page, "dashboard-phone-menu")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_VIEWPORT["width"], "the page scrolls sideways"
