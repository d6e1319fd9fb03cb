"""Claiming, logging in and out, and roles, in a real browser against the real
appliance."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from tests.browser.conftest import ADMIN, DESKTOP_VIEWPORT, LOCALE, Appliance, shot

PASSWORD = "a quiet evening walk"


@pytest.mark.allow_page_errors
def test_a_new_appliance_is_claimed_with_its_setup_code(
    new_appliance: Appliance, page: Page, page_errors: list[str]
) -> None:
    page.goto(new_appliance.url + "/events")
    expect(page).to_have_url(new_appliance.url + "/setup")
    code = (new_appliance.data_dir / "setup-code").read_text().strip()
    assert code in new_appliance.log()  # printed at start, for whoever has the device
    form = page.locator("[data-setup]")
    form.get_by_label("Setup code").fill("AAAA-BBBB-CCCC-DDDD")
    form.get_by_label("Admin user name").fill("owner")
    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button").click()
    expect(form.locator("[data-form-error]")).to_have_text(
        "that is not the setup code shown by the appliance"
    )
    shot(page, "setup")
    assert [e for e in page_errors if "403" not in e] == []  # only the refused code
    form.get_by_label("Setup code").fill(code)
    form.get_by_role("button").click()
    expect(page).to_have_url(new_appliance.url + "/")
    expect(page.locator(".who")).to_contain_text("owner")
    expect(page.locator("#live")).to_have_text("live")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(new_appliance.url + "/login")
    page.goto(new_appliance.url + "/setup")
    expect(page).to_have_url(new_appliance.url + "/login")  # setup is closed for good


def test_login_keeps_the_page_asked_for_and_a_viewer_cannot_act(
    appliance: Appliance, browser: Browser
) -> None:
    store = AuthStore(appliance.data_dir / "auth.db")
    try:
        store.add_user("guard", Role.VIEWER, hash_password(PASSWORD))
    finally:
        store.close()
    context = browser.new_context(viewport=DESKTOP_VIEWPORT, locale=LOCALE)
    try:
        page = context.new_page()
        page.goto(appliance.url + "/outputs")
        expect(page).to_have_url(appliance.url + "/login?next=%2Foutputs")
        page.get_by_label("User name").fill("guard")
        page.get_by_label("Password").fill("wrong password here")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("[data-form-error]")).to_have_text("wrong user name or password")
        shot(page, "login")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(appliance.url + "/outputs")
        expect(page.locator(".who")).to_contain_text("guard")
        expect(page.locator(".who a[href='/users']")).to_have_count(0)
        page.goto(appliance.url + "/")
        out1 = page.locator('[data-output="1"]')
        expect(out1.get_by_role("button", name="Start")).to_be_hidden()  # not offered
        csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
        refused = page.context.request.post(
            appliance.url + "/api/v1/outputs/1/start",
            data={},
            headers={"X-CSRF-Token": csrf, "Origin": appliance.url},
        )
        assert refused.status == 403  # and refused all the same
        assert refused.json()["error"] == "this needs the operator role; guard is viewer"
        expect(out1).to_have_attribute("data-state", "idle")
        reply = page.goto(appliance.url + "/users")
        assert reply is not None and reply.status == 403
    finally:
        context.close()


def test_an_admin_adds_a_user_and_makes_a_token(appliance: Appliance, page: Page) -> None:
    page.goto(appliance.url + "/users")
    users = page.locator("[data-users]")
    expect(users.locator("tr[data-user='admin']")).to_be_visible()
    form = page.locator("[data-add-user]")
    form.get_by_label("Name").fill("night-guard")
    form.get_by_label("Role").select_option("operator")
    form.get_by_label("Password").fill("short")
    form.get_by_role("button").click()
    # the browser's own minlength check stops it first; the server would say the same
    expect(users.locator("tr[data-user='night-guard']")).to_have_count(0)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button").click()
    expect(users.locator("tr[data-user='night-guard']")).to_contain_text("night-guard")
    tokens = page.locator("[data-add-token]")
    tokens.get_by_label("What uses it").fill("VMS")
    tokens.get_by_label("Role").select_option("viewer")
    tokens.get_by_role("button").click()
    secret = page.locator("[data-token-value]")
    expect(secret).to_contain_text("abt_")
    token = secret.inner_text()
    shot(page, "users")
    reply = page.request.get(
        appliance.url + "/api/v1/status", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status == 200
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("[data-tokens] tr", has_text="VMS").get_by_role("button", name="Revoke").click()
    expect(page.locator("[data-tokens] tr", has_text="VMS")).to_contain_text("revoked")
    again = page.request.get(
        appliance.url + "/api/v1/status", headers={"Authorization": f"Bearer {token}"}
    )
    assert again.status == 401


# -- issue #16 ------------------------------------------------------------------------


def test_the_login_form_without_its_script_posts_and_keeps_the_password_out_of_the_url(
    appliance: Appliance, browser: Browser
) -> None:
    """Without JavaScript (or before its script has loaded) the form itself logs in."""
    context = browser.new_context(
        viewport=DESKTOP_VIEWPORT, locale=LOCALE, java_script_enabled=False
    )
    try:
        page = context.new_page()
        urls: list[str] = []
        page.on("request", lambda request: urls.append(f"{request.method} {request.url}"))
        page.goto(appliance.url + "/outputs")
        expect(page).to_have_url(appliance.url + "/login?next=%2Foutputs")
        page.get_by_label("User name").fill(ADMIN[0])
        page.get_by_label("Password").fill("a wrong password here")
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        expect(page.locator("[data-form-error]")).to_have_text("wrong user name or password")
        page.get_by_label("Password").fill(ADMIN[1])
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(appliance.url + "/outputs")  # logged in, where it was asked
        assert f"POST {appliance.url}/login" in urls
        assert not [u for u in urls if "password" in u or ADMIN[1].replace(" ", "+") in u], urls
    finally:
        context.close()


@pytest.mark.parametrize("target", ["/%5Cevil.example/x", "/%09/evil.example"])
def test_login_stays_on_the_appliance_whatever_next_says(
    appliance: Appliance, browser: Browser, target: str
) -> None:
    context = browser.new_context(viewport=DESKTOP_VIEWPORT, locale=LOCALE)
    try:
        page = context.new_page()
        page.goto(f"{appliance.url}/login?next={target}")
        page.get_by_label("User name").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(appliance.url + "/")
        expect(page.locator(".who")).to_contain_text(ADMIN[0])
    finally:
        context.close()


def test_a_page_whose_user_is_removed_goes_to_the_login_page(
    appliance: Appliance, browser: Browser
) -> None:
    store = AuthStore(appliance.data_dir / "auth.db")
    try:
        store.add_user("guard", Role.VIEWER, hash_password(PASSWORD))
    finally:
        store.close()
    context = browser.new_context(viewport=DESKTOP_VIEWPORT, locale=LOCALE)
    try:
        appliance.login(context, ("guard", PASSWORD))
        page = context.new_page()
        page.goto(appliance.url + "/events")
        expect(page.locator("#live")).to_have_text("live")
        removed = page.request.delete(appliance.url + "/api/v1/users/guard", headers=appliance.auth)
        assert removed.status == 204
        expect(page).to_have_url(appliance.url + "/login?next=%2Fevents")  # in a few seconds
    finally:
        context.close()
