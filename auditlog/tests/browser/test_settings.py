"""Settings pages in a real browser: an API key created (its secret shown once, working against the API) and
revoked (the same secret then refused); a masking rule saved and applied to the next event; an alert rule created."""

import re

import requests
from playwright.sync_api import expect

from analytics.models import AlertRule
from tenants.models import ApiKey, Role, TenantSettings


def test_an_admin_creates_a_key_uses_its_secret_once_shown_and_revokes_it(page, sign_in, live_server_url, world):
    console_errors = []  # a script or style the Content-Security-Policy blocked would show here
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    sign_in(page, Role.ADMIN)
    page.goto("/app/settings/keys")
    page.get_by_label("Name").fill("browser read key")
    page.get_by_label("Read events").check()
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/app/settings/keys")) as sent:
        page.get_by_role("button", name="Create key").click()
    assert "no-store" in sent.value.headers["cache-control"]
    expect(page.get_by_role("heading", name="Key browser read key created")).to_be_visible()
    secret = page.locator("#new-key-secret").input_value()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()  # shown by settings.js
    assert secret.startswith("alk_") and secret not in page.url

    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{live_server_url}/api/v1/logs", headers=bearer, timeout=10).status_code == 200

    page.get_by_role("link", name="Done: back to the API keys").click()
    row = page.locator("#keys-table tr", has_text="browser read key")
    expect(row).to_contain_text("active")
    assert secret not in page.content()  # shown once
    key = ApiKey.objects.get(tenant=world.acme.tenant, name="browser read key")
    assert key.secret_hash != secret and secret not in str(key.__dict__)

    row.get_by_role("link", name="Revoke browser read key").click()
    expect(page.get_by_role("heading", name="Revoke the key browser read key?")).to_be_visible()
    page.get_by_role("button", name="Revoke browser read key").click()
    expect(page.get_by_role("status")).to_contain_text("was revoked")
    expect(page.locator("#keys-table tr", has_text="browser read key")).to_contain_text("revoked")
    assert requests.get(f"{live_server_url}/api/v1/logs", headers=bearer, timeout=10).status_code == 401
    assert console_errors == []


def test_an_admin_saves_a_masking_rule_and_the_next_event_is_masked(page, sign_in, post_event, world):
    sign_in(page, Role.ADMIN)
    page.goto("/app/settings/policy")
    patterns = page.get_by_label("Masked patterns (RE2)")
    patterns.fill("ORDER-(\\d{6}")
    page.get_by_role("button", name="Save policies").click()
    expect(page.locator(".field-invalid")).to_contain_text("Not a valid RE2")
    stored = TenantSettings.objects.filter(tenant=world.acme.tenant).values_list("masking", flat=True).first() or {}
    assert not any("ORDER" in pattern for pattern in stored.get("patterns", []))  # nothing of the refused form

    page.get_by_label("Masked patterns (RE2)").fill("ORDER-\\d{6}")
    page.get_by_role("button", name="Save policies").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(page.get_by_label("Masked patterns (RE2)")).to_have_value("ORDER-\\d{6}")
    assert TenantSettings.objects.get(tenant=world.acme.tenant).masking["patterns"] == ["ORDER-\\d{6}"]

    event = post_event(message="refund of ORDER-123456 approved")
    assert "ORDER-123456" not in event["message"] and "[MASKED" in event["message"]


def test_an_admin_creates_an_alert_rule(page, sign_in, world):
    sign_in(page, Role.ADMIN)
    page.goto("/app/settings/alerts/")
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("Browser failed logins")
    page.get_by_label("Filters").fill("action=LOGIN\nseverity=ERROR")
    page.get_by_label("At least N matching events within a window").check()
    page.get_by_label("N (matching events)").fill("3")
    page.get_by_label("Window (seconds)").fill("600")
    page.get_by_label("Email addresses").fill("security@acme.test")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("status")).to_contain_text("was created")
    expect(page).to_have_url(re.compile(r"/app/settings/alerts/\d+$"))
    page.get_by_role("link", name="← Alert rules").click()
    expect(page.locator("#rules-table")).to_contain_text("at least 3 in 600 s")

    from django.db import connection

    connection.set_tenant(world.acme.tenant)
    try:
        rule = AlertRule.objects.get(name="Browser failed logins")
    finally:
        connection.set_schema_to_public()
    assert rule.filters == {"action": "LOGIN", "severity": "ERROR"} and rule.emails == ["security@acme.test"]
    assert (rule.condition, rule.threshold_count, rule.window_seconds) == ("threshold", 3, 600)


def test_the_settings_pages_work_at_phone_width(phone_page, sign_in):
    sign_in(phone_page, Role.ADMIN)
    for url in ("/app/settings/members", "/app/settings/keys", "/app/settings/policy", "/app/settings/alerts/"):
        phone_page.goto(url)
        expect(phone_page.get_by_role("navigation", name="Settings")).to_be_visible()
        overflow = phone_page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{url} is {overflow} px wider than the phone"


def test_a_user_does_not_see_the_settings(page, sign_in):
    sign_in(page, Role.USER)
    response = page.goto("/app/settings/keys")
    assert response.status == 403
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy")).to_have_count(0)
    assert page.goto("/app/settings/policy").status == 403
