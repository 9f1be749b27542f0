"""Signing in and out, choosing a tenant, and what each role is shown, in a real browser."""

import re

from playwright.sync_api import expect

from conftest import PASSWORD
from tenants.models import Role


def submit_login(page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_with_the_form_lands_on_the_logs(page):
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on(
        "response",
        lambda response: problems.append(response.url) if "/static/" in response.url and not response.ok else None,
    )
    page.goto("/app/")
    expect(page).to_have_url(re.compile(r"/app/login\?next=/app/$"))
    submit_login(page, "acme-auditor")
    expect(page).to_have_url(re.compile(r"/app/logs$"))
    expect(page.locator(".user-menu summary")).to_contain_text("acme-auditor")
    expect(page.locator(".tenant-name")).to_have_text("Acme")
    page.goto("/app/account/password")
    assert page.evaluate("typeof htmx.version") == "string"  # the vendored htmx, loaded under the CSP
    assert not problems  # no script or style refused by the Content-Security-Policy, no missing static file


def test_a_wrong_password_shows_an_error(page):
    page.goto("/app/login")
    submit_login(page, "acme-user", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/app/login$"))


def test_a_person_in_two_tenants_chooses_one(page, make_person):
    person, password = make_person({"acme": Role.USER, "globex": Role.AUDITOR})
    page.goto("/app/login")
    submit_login(page, person.username, password)
    expect(page).to_have_url(re.compile(r"/app/tenants\?next="))
    expect(page.get_by_role("button", name=re.compile("^Acme"))).to_be_visible()
    page.get_by_role("button", name=re.compile("^Globex")).click()
    expect(page).to_have_url(re.compile(r"/app/"))
    expect(page.locator(".tenant-name")).to_have_text("Globex")
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Switch tenant").click()
    page.get_by_role("button", name=re.compile("^Acme")).click()
    expect(page.locator(".tenant-name")).to_have_text("Acme")


def test_on_a_tenants_subdomain_another_tenants_person_cannot_sign_in(page, tenant_url):
    page.goto(tenant_url("acme", "/app/login"))
    expect(page.get_by_role("heading", name="Sign in to Acme")).to_be_visible()
    submit_login(page, "globex-admin")
    expect(page.get_by_role("alert")).to_contain_text("not a member of Acme")


def test_a_user_sees_no_settings_and_is_refused_them(page, sign_in):
    sign_in(page, Role.USER)
    page.goto("/app/tenants")
    page.goto("/app/account/password")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Logs")).to_be_visible()
    expect(nav.get_by_role("link", name="Stats")).to_be_visible()
    for hidden in ("Settings", "Policy", "Exports"):
        expect(nav.get_by_role("link", name=hidden)).to_have_count(0)
    response = page.goto("/app/settings/members")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_an_admin_sees_settings_and_an_auditor_the_policy(page, sign_in):
    sign_in(page, Role.ADMIN)
    page.goto("/app/account/password")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Settings")).to_have_attribute("href", "/app/settings/members")
    expect(nav.get_by_role("link", name="Exports")).to_be_visible()
    sign_in(page, Role.AUDITOR)
    page.reload()
    expect(nav.get_by_role("link", name="Policy")).to_have_attribute("href", "/app/settings/policy")
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)


def test_sign_out(page, sign_in):
    sign_in(page, Role.USER)
    page.goto("/app/account/password")
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/app/login$"))
    page.goto("/app/logs")
    expect(page).to_have_url(re.compile(r"/app/login\?next=/app/logs$"))


def test_the_layout_fits_a_phone_and_skips_to_the_content(phone_page, sign_in):
    phone_page.goto("/app/login")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    sign_in(phone_page, Role.ADMIN)
    phone_page.goto("/app/tenants")  # a page without an autofocused field
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(phone_page.get_by_role("navigation", name="Main").get_by_role("link", name="Logs")).to_be_visible()
    phone_page.keyboard.press("Tab")
    skip = phone_page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
