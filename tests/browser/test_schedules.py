"""The Schedules page in a real browser against the real appliance (``alarmbridge run``
on simulated pins, time zone Europe/Brussels): editing weekly windows and exceptions,
the server's refusals, the timeline, and the running appliance obeying what was saved."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Appliance, shot
from tests.support import wait_for

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def every_day(start: str, end: str) -> dict[str, list[dict[str, str]]]:
    return {day: [{"start": start, "end": end}] for day in DAYS}


def local_now(appliance: Appliance) -> datetime:
    """The appliance's own local time (its time zone, not this machine's)."""
    return datetime.fromisoformat(appliance.api("GET", "/api/v1/system")["now_local"])


def hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def schedule_form(page: Page, name: str) -> Locator:
    return page.locator(f'form[data-schedule="{name}"]')


def fill_window(form: Locator, path: str, start: str, end: str) -> None:
    form.locator(f'[name="{path}.start"]').fill(start)
    form.locator(f'[name="{path}.end"]').fill(end)


def add_windows(form: Locator, day: str, *windows: tuple[str, str]) -> None:
    """Add windows to ``day`` of ``form`` and type their times."""
    fieldset = form.locator(f'[data-day="{day}"]')
    first = fieldset.locator("[data-window]").count()
    for j, (start, end) in enumerate(windows, first):
        fieldset.get_by_role("button", name="Add window").click()
        fill_window(form, f"week.{day}.{j}", start, end)


def copy_day(form: Locator, day: str, pick: str) -> None:
    fieldset = form.locator(f'[data-day="{day}"]')
    fieldset.get_by_text("Copy this day to…").click()
    fieldset.get_by_role("button", name=pick, exact=True).click()
    fieldset.locator("[data-copy]").click()


def create_through_the_page(page: Page, name: str, start: str, end: str) -> Locator:
    """A new schedule with the same window every day, made with the page's own form."""
    new = page.locator("form[data-new]")
    new.get_by_label("Name").fill(name)
    add_windows(new, "mon", (start, end))
    copy_day(new, "mon", "All")
    new.get_by_role("button", name="Create schedule").click()
    created = schedule_form(page, name)
    expect(created.locator("[data-saved]")).to_contain_text("Created and applied")
    return created


def set_every_day(form: Locator, start: str, end: str) -> None:
    """Change Monday's single window and copy it to every other day."""
    fill_window(form, "week.mon.0", start, end)
    copy_day(form, "mon", "All")


def status_of(appliance: Appliance, section: str, n: int) -> Any:
    return appliance.api("GET", "/api/v1/status")[section][n - 1]


def use_schedule(appliance: Appliance, section: str, n: int, name: str) -> None:
    """Choose schedule ``name`` for input or output ``n`` through the API."""
    path = f"/api/v1/{section}s/{n}"
    appliance.api("PUT", path, {**appliance.api("GET", path), "schedule": name})


def test_create_a_schedule_with_windows_copies_and_exceptions(
    appliance: Appliance, page: Page
) -> None:
    page.goto(appliance.url + "/schedules")
    expect(page.get_by_role("link", name="Schedules")).to_have_attribute("aria-current", "page")
    expect(page.locator("[data-no-schedules]")).to_be_visible()
    new = page.locator("form[data-new]")
    new.get_by_label("Name").fill("Office hours")
    add_windows(new, "mon", ("08:00", "12:00"), ("13:00", "17:30"), ("22:00", "06:00"))
    monday = new.locator('[data-day="mon"]')
    expect(monday.locator("[data-next-day]").nth(2)).to_have_text("ends 06:00 the next day")
    copy_day(new, "mon", "Weekdays")
    for day in ("tue", "wed", "thu", "fri"):
        expect(new.locator(f'[data-day="{day}"] [data-window]')).to_have_count(3)
    for day in ("sat", "sun"):
        expect(new.locator(f'[data-day="{day}"] [data-window]')).to_have_count(0)
        expect(new.locator(f'[data-day="{day}"] [data-off-day]')).to_be_visible()
    expect(new.locator('[name="week.fri.2.end"]')).to_have_value("06:00")
    # Friday's last window is not wanted after all.
    new.locator('[data-day="fri"] [data-window]').nth(1).get_by_role(
        "button", name="Remove"
    ).click()
    expect(new.locator('[name="week.fri.1.start"]')).to_have_value("22:00")  # renumbered

    new.get_by_role("button", name="Add exception").click()
    christmas = new.locator("[data-exception]").nth(0)
    christmas.get_by_label("Date").fill("2026-12-25")
    christmas.get_by_label("Note").fill("Christmas Day")
    expect(christmas.get_by_label("Off all day")).to_be_checked()
    new.get_by_role("button", name="Add exception").click()
    eve = new.locator("[data-exception]").nth(1)
    eve.get_by_label("Date").fill("2026-12-24")
    eve.get_by_label("Note").fill("Christmas Eve")
    eve.get_by_label("Off all day").uncheck()  # its own windows: one appears
    fill_window(new, "exceptions.1.windows.0", "09:00", "12:30")
    shot(page, "schedules-new")
    new.get_by_role("button", name="Create schedule").click()

    created = schedule_form(page, "Office hours")
    expect(created.locator("[data-saved]")).to_contain_text("Created and applied")
    expect(created.locator("[data-used-by]")).to_have_text("Not used by any input or output yet.")
    expect(page.locator("form[data-new]").get_by_label("Name")).to_have_value("")
    expect(page.locator("[data-no-schedules]")).to_be_hidden()
    weekday = [
        {"start": "08:00", "end": "12:00"},
        {"start": "13:00", "end": "17:30"},
        {"start": "22:00", "end": "06:00"},
    ]
    exceptions = [
        {"date": "2026-12-25", "windows": [], "note": "Christmas Day"},
        {
            "date": "2026-12-24",
            "windows": [{"start": "09:00", "end": "12:30"}],
            "note": "Christmas Eve",
        },
    ]
    expected = {
        "name": "Office hours",
        "week": {
            "mon": weekday,
            "tue": weekday,
            "wed": weekday,
            "thu": weekday,
            "fri": [weekday[0], weekday[2]],
            "sat": [],
            "sun": [],
        },
        "exceptions": exceptions,
    }
    assert appliance.api("GET", "/api/v1/schedules/" + quote("Office hours")) == expected

    # Edit it (PUT): Saturday morning, Sunday all day (a time field cannot hold 24:00:
    # 00:00 to 00:00 is all day, sent as 00:00-24:00), and the Christmas Day exception goes.
    add_windows(created, "sat", ("09:00", "13:00"))
    add_windows(created, "sun", ("00:00", "00:00"))
    expect(created.locator('[data-day="sun"] [data-next-day]')).to_have_text("all day")
    expect(created.locator("[data-dirty]")).to_be_visible()
    created.locator("[data-exception]").nth(0).get_by_role(
        "button", name="Remove exception"
    ).click()
    expect(created.locator('[name="exceptions.0.date"]')).to_have_value("2026-12-24")
    created.get_by_role("button", name="Save Office hours").click()
    expect(created.locator("[data-saved]")).to_contain_text("Saved and applied")
    expect(created.locator("[data-dirty]")).to_be_hidden()
    saved = appliance.api("GET", "/api/v1/schedules/" + quote("Office hours"))
    assert saved["week"]["sat"] == [{"start": "09:00", "end": "13:00"}]
    assert saved["week"]["sun"] == [{"start": "00:00", "end": "24:00"}]
    assert saved["exceptions"] == exceptions[1:]
    # A reload shows what was saved.
    page.reload()
    form = schedule_form(page, "Office hours")
    expect(form.locator('[name="week.mon.2.start"]')).to_have_value("22:00")
    expect(form.locator('[name="week.mon.2.end"]')).to_have_value("06:00")
    expect(form.locator('[name="exceptions.0.note"]')).to_have_value("Christmas Eve")
    expect(form.locator('[name="week.sun.0.end"]')).to_have_value("00:00")
    # Once an input and an output use it, the page says so and the timeline shows it.
    use_schedule(appliance, "input", 1, "Office hours")
    use_schedule(appliance, "output", 3, "Office hours")
    page.reload()
    expect(form.locator("[data-used-by]")).to_have_text("Used by input 1 (IN1), output 3 (OUT3).")
    expect(page.locator('[data-timeline-row="output-3"]')).to_contain_text("Office hours")
    shot(page, "schedules")


@pytest.mark.allow_page_errors  # the browser logs the server's 422 answers
def test_refusals_are_shown_beside_the_windows_and_keep_what_was_typed(
    appliance: Appliance, page: Page, page_errors: list[str]
) -> None:
    appliance.api(
        "POST",
        "/api/v1/schedules",
        {"name": "Shop", "week": {"mon": [{"start": "08:00", "end": "12:00"}]}},
    )
    page.goto(appliance.url + "/schedules")
    form = schedule_form(page, "Shop")
    monday = form.locator('[data-day="mon"]')

    # Checked in the browser first: nothing is sent.
    monday.get_by_role("button", name="Add window").click()
    form.locator('[name="week.mon.1.start"]').fill("11:00")
    form.get_by_role("button", name="Save Shop").click()
    expect(form.locator('[data-error-for=""]')).to_contain_text("Not sent")
    expect(form.locator('[name="week.mon.1.end"]')).to_have_attribute("aria-invalid", "true")
    expect(form.locator('[data-error-for="week.mon.1.end"]')).not_to_be_empty()
    form.locator('[name="week.mon.1.end"]').fill("11:00")
    expect(form.locator('[data-error-for="week.mon.1.end"]')).to_contain_text("same as the start")
    assert not page_errors

    # The server refuses the overlap, and says which windows and what to do.
    form.locator('[name="week.mon.1.end"]').fill("13:00")
    form.get_by_role("button", name="Save Shop").click()
    message = "Monday: 08:00-12:00 overlaps 11:00-13:00: merge them into 08:00-13:00 or change one"
    expect(form.locator('[data-error-for="week.mon"]')).to_have_text(message)
    expect(form.locator('[data-error-for=""]')).to_contain_text("Not saved")
    expect(monday).to_have_attribute("aria-invalid", "true")
    for field in ("week.mon.0.start", "week.mon.1.start"):
        expect(form.locator(f'[name="{field}"]')).to_have_attribute("aria-invalid", "true")
    # What was typed is all still there.
    expect(form.locator('[name="week.mon.0.start"]')).to_have_value("08:00")
    expect(form.locator('[name="week.mon.1.start"]')).to_have_value("11:00")
    expect(form.locator('[name="week.mon.1.end"]')).to_have_value("13:00")
    expect(form.locator("[data-dirty]")).to_be_visible()
    shot(page, "schedules-overlap")
    assert appliance.api("GET", "/api/v1/schedules/Shop")["week"]["mon"] == [
        {"start": "08:00", "end": "12:00"}
    ]

    # A Sunday window running into Monday's is refused too, beside Sunday.
    form.locator('[name="week.mon.1.start"]').fill("13:00")
    form.locator('[name="week.mon.1.end"]').fill("17:00")
    add_windows(form, "sun", ("23:00", "09:00"))
    form.get_by_role("button", name="Save Shop").click()
    expect(form.locator('[data-error-for="week.sun"]')).to_contain_text(
        "Sunday 23:00-09:00 (next day) runs into Monday and overlaps its 08:00-12:00"
    )
    expect(form.locator('[data-error-for="week.mon"]')).to_be_empty()

    # A problem with a field path goes beside that field: the reserved name.
    form.locator('[name="week.sun.0.end"]').fill("07:00")
    form.get_by_label("Name").fill("always")
    form.get_by_role("button", name="Save Shop").click()
    expect(form.locator('[data-error-for="name"]')).to_contain_text("built in")
    expect(form.get_by_label("Name")).to_have_value("always")
    # Corrected, it saves.
    form.get_by_label("Name").fill("Shop")
    form.get_by_role("button", name="Save Shop").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    expect(form.locator('[data-error-for="name"]')).to_be_empty()
    saved = appliance.api("GET", "/api/v1/schedules/Shop")["week"]
    assert saved["mon"] == [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
    assert saved["sun"] == [{"start": "23:00", "end": "07:00"}]
    assert len(page_errors) == 3 and all("422" in e for e in page_errors)


def test_assigning_a_schedule_shows_on_the_timeline_and_a_rename_follows(
    appliance: Appliance, page: Page
) -> None:
    appliance.api(
        "POST", "/api/v1/schedules", {"name": "Nights", "week": every_day("22:00", "06:00")}
    )
    page.goto(appliance.url + "/inputs")
    form = page.locator('form[data-n="1"]')
    select = form.locator('select[name="schedule"]')
    expect(select.locator("option")).to_have_text(["always: armed at every moment", "Nights"])
    expect(page.get_by_text("Weekly schedules are not available yet")).to_have_count(0)
    select.select_option("Nights")
    form.get_by_role("button", name="Save input 1").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    assert appliance.api("GET", "/api/v1/inputs/1")["schedule"] == "Nights"
    form.get_by_role("link", name="Edit schedules").click()

    expect(page).to_have_url(appliance.url + "/schedules")
    row = page.locator('[data-timeline-row="input-1"]')
    expect(row.get_by_role("link", name="Nights")).to_be_visible()
    expect(row.locator('rect[data-state="armed"]').first).to_be_attached()
    expect(row.locator('rect[data-state="unarmed"]').first).to_be_attached()
    armed_title = row.locator('rect[data-state="armed"] title').first.text_content() or ""
    assert armed_title.startswith("IN1: armed from ")
    assert armed_title.endswith(" 06:00")  # the first night ends at 06:00, whenever now is
    other = page.locator('[data-timeline-row="input-2"] rect')
    expect(other).to_have_count(1)
    expect(other).to_have_attribute("data-state", "armed")  # "always"
    expect(page.locator('[data-timeline-row="output-1"] rect')).to_have_attribute(
        "data-state", "untimed"
    )
    expect(page.locator(".tl-legend")).to_contain_text("unarmed")
    expect(page.locator(".tl-scale")).to_contain_text("now")
    form = schedule_form(page, "Nights")
    expect(form.locator("[data-used-by]")).to_have_text("Used by input 1 (IN1).")
    # Tapping a bar says what it shows.
    row.locator('rect[data-state="unarmed"]').first.click()
    expect(page.locator("[data-timeline-detail]")).to_contain_text("IN1: unarmed from ")

    # The 7-day view, switched without losing what is being typed below.
    page.locator("form[data-new]").get_by_label("Name").fill("half typed")
    page.get_by_role("link", name="7 days").click()
    expect(page.get_by_role("link", name="7 days")).to_have_attribute("aria-current", "true")
    expect(page.locator(".tl-scale text.tick-day")).not_to_have_count(0)
    assert page.url.endswith("?span=7d")
    expect(page.locator("form[data-new]").get_by_label("Name")).to_have_value("half typed")
    assert row.locator('rect[data-state="armed"]').count() >= 6

    # Renamed here (PUT): the input follows, and so do the timeline and the Inputs page.
    form.get_by_label("Name").fill("Night watch")
    form.get_by_role("button", name="Save Nights").click()
    renamed = schedule_form(page, "Night watch")
    expect(renamed.locator("[data-saved]")).to_contain_text("Saved and applied")
    expect(renamed.locator("[data-title]")).to_have_text("Night watch")
    assert appliance.api("GET", "/api/v1/inputs/1")["schedule"] == "Night watch"
    expect(row.get_by_role("link", name="Night watch")).to_be_visible()
    page.goto(appliance.url + "/inputs")
    expect(page.locator('form[data-n="1"] select[name="schedule"]')).to_have_value("Night watch")


def test_the_running_appliance_obeys_the_schedule(appliance: Appliance, page: Page) -> None:
    config = appliance.api("GET", "/api/v1/inputs/1")
    assert (config["kind"], config["armed_by"], config["outputs"]) == ("alarm", "schedule", [1])
    now = local_now(appliance)
    # The same window on every day, 2-3 h ahead: outside now whatever the weekday.
    page.goto(appliance.url + "/schedules")
    form = create_through_the_page(
        page, "Guard", hhmm(now + timedelta(hours=2)), hhmm(now + timedelta(hours=3))
    )
    page.goto(appliance.url + "/inputs")
    inputs = page.locator('form[data-n="1"]')
    inputs.locator('select[name="schedule"]').select_option("Guard")
    inputs.get_by_role("button", name="Save input 1").click()
    expect(inputs.locator("[data-saved]")).to_contain_text("Saved and applied")

    page.goto(appliance.url + "/")
    in1 = page.locator('[data-input="1"]')
    out1 = page.locator('[data-output="1"]')
    expect(in1.locator('[data-field="armed"]')).to_have_text(re.compile(r"^no\b"))
    appliance.api("POST", "/api/v1/simulation/inputs/1", {"closed": True})
    # in alarm but not armed: "disarmed", not a red ALARM (red means the DVR is told)
    expect(in1).to_have_attribute("data-state", "disarmed")
    expect(in1.locator('[data-field="armed"]')).to_have_text(re.compile(r"^no\b"))
    events = appliance.api("GET", "/api/v1/events?channel=IN1&kind=input")["events"]
    assert "alarm-not-armed" in [e["state"] for e in events]
    expect(page.locator("table.events tbody tr").filter(has_text="alarm-not-armed")).to_have_count(
        1
    )
    time.sleep(0.5)  # give a wrong relay time to close
    assert status_of(appliance, "outputs", 1)["active"] is False
    expect(out1).to_have_attribute("data-state", "idle")

    # Now a window around now (it may cross midnight), changed through the page.
    page.goto(appliance.url + "/schedules")
    form = schedule_form(page, "Guard")
    set_every_day(form, hhmm(now - timedelta(hours=1)), hhmm(now + timedelta(hours=1)))
    form.get_by_role("button", name="Save Guard").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    expect(page.locator('[data-timeline-row="input-1"] rect').first).to_have_attribute(
        "data-state", "armed"
    )
    assert wait_for(lambda: status_of(appliance, "inputs", 1)["armed"] is True)
    page.goto(appliance.url + "/")
    expect(in1.locator('[data-field="armed"]')).to_have_text(re.compile(r"^yes\b"))
    expect(in1).to_have_attribute("data-state", "alarm")
    # Still in alarm, now armed: the linked output starts.
    expect(out1).to_have_attribute("data-state", "active")
    # ...and says why: IN1 drives it. (The engine's part: Engine.apply_config re-arms
    # with drive=False and marks the input as the output's source, so the card shows
    # "input: IN1"; the log row that started it says "config: admin", #15.)
    expect(out1.locator('[data-field="cause"]')).to_contain_text("IN1")


def test_a_timed_output_is_active_in_its_schedule(appliance: Appliance, page: Page) -> None:
    now = local_now(appliance)
    around_now = every_day(hhmm(now - timedelta(hours=1)), hhmm(now + timedelta(hours=1)))
    appliance.api("POST", "/api/v1/schedules", {"name": "Lights", "week": around_now})
    page.goto(appliance.url + "/outputs")
    form = page.locator('form[data-n="2"]')
    select = form.locator('select[name="schedule"]')
    expect(select.locator("option")).to_have_text(
        ["none: driven by inputs and by hand", "always on", "Lights"]
    )
    select.select_option("Lights")
    form.get_by_role("button", name="Save output 2").click()
    expect(form.locator("[data-saved]")).to_contain_text("Saved and applied")
    assert appliance.api("GET", "/api/v1/outputs/2")["schedule"] == "Lights"

    page.goto(appliance.url + "/")
    out2 = page.locator('[data-output="2"]')
    expect(out2).to_have_attribute("data-state", "active")
    expect(out2.locator('[data-field="cause"]')).to_contain_text("schedule")
    page.goto(appliance.url + "/schedules")
    row = page.locator('[data-timeline-row="output-2"]')
    expect(row.locator("rect").first).to_have_attribute("data-state", "on")
    expect(row.locator('rect[data-state="off"]').first).to_be_attached()


@pytest.mark.allow_page_errors  # the browser logs the server's 409 answer
def test_deleting_a_schedule_in_use_is_refused(
    appliance: Appliance, page: Page, page_errors: list[str]
) -> None:
    for name in ("Used", "Spare"):
        appliance.api(
            "POST", "/api/v1/schedules", {"name": name, "week": every_day("08:00", "18:00")}
        )
    use_schedule(appliance, "input", 2, "Used")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(appliance.url + "/schedules")
    used = schedule_form(page, "Used")
    used.get_by_role("button", name="Delete").click()
    expect(used.locator('[data-error-for=""]')).to_contain_text(
        "Not deleted: schedule 'Used' is in use by input 2 (IN2)"
    )
    assert appliance.api("GET", "/api/v1/schedules/Used")["name"] == "Used"
    assert page_errors and all("409" in e for e in page_errors)

    spare = schedule_form(page, "Spare")
    spare.get_by_role("button", name="Delete").click()
    expect(spare).to_have_count(0)
    expect(page.locator("[data-page-message]")).to_have_text('Schedule "Spare" deleted.')
    with pytest.raises(HTTPError) as refused:
        appliance.api("GET", "/api/v1/schedules/Spare")
    refused.value.close()  # its unread reply holds the socket
    assert refused.value.code == 404
    expect(used).to_be_visible()


def test_the_timeline_marks_daylight_saving(appliance: Appliance, page: Page) -> None:
    appliance.api(
        "POST", "/api/v1/schedules", {"name": "Nights", "week": every_day("22:00", "06:00")}
    )
    use_schedule(appliance, "input", 1, "Nights")
    # Brussels' clocks go back on Sunday 25 October 2026, 03:00 CEST -> 02:00 CET.
    page.goto(appliance.url + "/schedules?span=7d&start=2026-10-23T12:00")
    expect(page.locator("#timeline-h")).to_have_text("From Fri 23 Oct 12:00 CEST")
    expect(page.locator(".tl-scale .tl-dst")).to_have_text("clocks go back 1 h")
    expect(page.locator("[data-clock-changes]")).to_contain_text(
        "Sun 25 Oct 03:00 CEST becomes 02:00 CET: clocks go back 1 h"
    )
    expect(page.locator(".tl-scale text.tick-day")).to_contain_text(["Sat 24", "Sun 25", "Mon 26"])
    # The night of the change lasts 9 hours; its title says so in local time.
    titles = page.locator('[data-timeline-row="input-1"] rect[data-state="armed"] title')
    expect(titles.nth(1)).to_have_text(
        "IN1: armed from Sat 24 Oct 22:00 CEST to Sun 25 Oct 06:00 CET"
    )
    expect(page.locator(".tl-dst-line")).to_have_count(8)  # one per row


def test_the_schedules_page_fits_a_phone(appliance: Appliance, phone_page: Page) -> None:
    appliance.api(
        "POST",
        "/api/v1/schedules",
        {
            "name": "Office hours",
            "week": {
                day: [{"start": "08:00", "end": "12:00"}, {"start": "22:00", "end": "06:00"}]
                for day in DAYS[:5]
            },
            "exceptions": [{"date": "2026-12-25", "windows": [], "note": "Christmas Day"}],
        },
    )
    use_schedule(appliance, "input", 1, "Office hours")
    phone_page.goto(appliance.url + "/schedules")
    expect(phone_page.locator("#live")).to_have_text("live")
    form = schedule_form(phone_page, "Office hours")
    form.locator('[data-day="mon"]').get_by_text("Copy this day to…").tap()
    expect(form.locator('[data-day="mon"]').get_by_role("button", name="Weekend")).to_be_visible()
    form.locator("[data-exception]").get_by_label("Off all day").uncheck()
    phone_page.get_by_text("How schedules work").tap()
    expect(
        phone_page.get_by_text("a time in the repeated hour means its first occurrence")
    ).to_be_visible()

    def overflow() -> int:
        width: int = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        return width

    assert overflow() <= 0
    shot(phone_page, "schedules-phone")
    phone_page.get_by_role("link", name="7 days").tap()
    expect(phone_page.get_by_role("link", name="7 days")).to_have_attribute("aria-current", "true")
    assert overflow() <= 0
