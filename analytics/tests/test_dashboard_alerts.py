"""Dashboard pages of alert rules: create, edit, mute, delete and history, with the API's validation (the
service is shared), Admin only, each tenant's rules only, CSRF on every POST, bad input as form errors."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from analytics.models import AlertDelivery, AlertFiring, AlertRule
from tenants.models import Role

from . import alerts_support

alert_settings = alerts_support.alert_settings
RULES = "/app/settings/alerts/"


@pytest.fixture
def dash(world):
    def make(role=Role.ADMIN, tw=None, csrf=False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        client.force_login((tw or world.acme).users[role])
        return client

    return make


class InSchema:
    """Reads and writes of a tenant's alert tables from the test (the pages run in the tenant's schema)."""

    def __init__(self, tenant):
        self.tenant = tenant

    def __enter__(self):
        connection.set_tenant(self.tenant)

    def __exit__(self, *exc):
        connection.set_schema_to_public()


def rules_of(tenant) -> list[AlertRule]:
    with InSchema(tenant):
        return list(AlertRule.objects.order_by("id"))


def make_rule(tenant, **fields) -> AlertRule:
    with InSchema(tenant):
        return AlertRule.objects.create(**{"name": "rule", "emails": ["sec@example.test"], **fields})


def form(**overrides) -> dict:
    return {
        "name": "Failed logins",
        "filters": "action=login\nseverity = ERROR,CRITICAL\nmetadata.outcome=failure",
        "condition": "threshold",
        "threshold_count": "5",
        "window_seconds": "300",
        "webhook_url": "https://hooks.example.com/audit",
        "emails": "sec@acme.test, ops@acme.test",
        "enabled": "on",
        **overrides,
    }


def errors_of(response) -> str:
    return " ".join(re.findall(r'<ul class="errorlist"[^>]*>(.*?)</ul>', response.content.decode(), re.S))


def test_an_admin_creates_a_rule_as_the_api_would(world, dash):
    client = dash()
    assert client.get(f"{RULES}new").status_code == 200
    response = client.post(f"{RULES}new", form())
    assert response.status_code == 302
    (rule,) = rules_of(world.acme.tenant)
    assert response["Location"] == f"{RULES}{rule.pk}"
    assert rule.filters == {"action": "LOGIN", "severity": "ERROR,CRITICAL", "metadata.outcome": "failure"}
    assert (rule.condition, rule.threshold_count, rule.window_seconds) == ("threshold", 5, 300)
    assert rule.emails == ["sec@acme.test", "ops@acme.test"] and rule.enabled
    assert rule.webhook_secret.startswith("whsec_")
    assert rule.created_by["id"] == f"user:{world.acme.users[Role.ADMIN].pk}"
    detail = client.get(response["Location"])
    assert detail.status_code == 200 and rule.webhook_secret in detail.content.decode()
    assert "no-store" in detail["Cache-Control"]
    listed = client.get(RULES).content.decode()
    assert "Failed logins" in listed and "at least 5 in 300 s" in listed and rule.webhook_secret not in listed


def test_an_admin_edits_mutes_and_deletes_a_rule(world, dash):
    client = dash()
    client.post(f"{RULES}new", form())
    (rule,) = rules_of(world.acme.tenant)
    secret = rule.webhook_secret
    edited = client.post(f"{RULES}{rule.pk}", form(name="Logins", condition="every", enabled="", filters=""))
    assert edited.status_code == 302
    (rule,) = rules_of(world.acme.tenant)
    assert (rule.name, rule.condition, rule.threshold_count, rule.enabled) == ("Logins", "every", None, False)
    assert rule.filters == {} and rule.webhook_secret == secret
    client.post(f"{RULES}{rule.pk}", form(rotate_secret="on"))
    assert rules_of(world.acme.tenant)[0].webhook_secret != secret

    assert client.post(f"{RULES}{rule.pk}/mute", {"action": "mute", "duration": "86400"}).status_code == 302
    (rule,) = rules_of(world.acme.tenant)
    assert rule.is_muted() and timedelta(hours=23) < rule.muted_until - timezone.now() <= timedelta(days=1)
    assert "muted until" in client.get(RULES).content.decode()
    client.post(f"{RULES}{rule.pk}/mute", {"action": "unmute", "back": "detail"})
    assert not rules_of(world.acme.tenant)[0].is_muted()
    assert client.post(f"{RULES}{rule.pk}/mute", {"action": "snooze"}).status_code == 302
    assert not rules_of(world.acme.tenant)[0].is_muted()

    assert client.get(f"{RULES}{rule.pk}/delete").status_code == 200 and rules_of(world.acme.tenant)
    assert client.post(f"{RULES}{rule.pk}/delete")["Location"] == RULES
    assert rules_of(world.acme.tenant) == []
    assert client.get(f"{RULES}{rule.pk}").status_code == 404


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": ""}, "required"),
        ({"filters": "actionz=LOGIN"}, "\u201cactionz\u201d"),
        ({"filters": "severity=LOUD"}, "\u201cseverity\u201d"),
        ({"filters": "from=2026-01-01T00:00:00Z"}, "no meaning for an alert rule"),
        ({"filters": "just words"}, "write name=value"),
        ({"threshold_count": ""}, "Required for a threshold rule"),
        ({"threshold_count": "0"}, "from 1 to 100000"),
        ({"window_seconds": "999999999"}, "from 1 to 604800"),
        ({"window_seconds": "soon"}, "whole number"),
        ({"condition": "sometimes"}, "valid choice"),
        ({"webhook_url": "ftp://example.com/x"}, "Only http and https"),
        ({"webhook_url": "https://user:pw@example.com/x"}, "Credentials in the URL"),
        ({"webhook_url": "", "emails": ""}, "needs a webhook URL or email"),
        ({"emails": "sec@acme.test\nnot an address"}, "\u201cnot an address\u201d: Not an email"),
    ],
)
def test_bad_rules_are_form_errors_and_nothing_is_stored(world, dash, overrides, message):
    response = dash().post(f"{RULES}new", form(**overrides))
    assert response.status_code == 400
    assert message in errors_of(response), errors_of(response)
    assert rules_of(world.acme.tenant) == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://localhost/x"],
)
def test_private_webhook_addresses_are_refused(world, dash, alert_settings, url):
    alert_settings(ALERT_WEBHOOK_ALLOW_PRIVATE=False)
    response = dash().post(f"{RULES}new", form(webhook_url=url))
    assert response.status_code == 400 and "Private, loopback" in errors_of(response)
    assert rules_of(world.acme.tenant) == []


def test_a_refused_edit_changes_nothing(world, dash):
    rule = make_rule(world.acme.tenant, name="keep me")
    response = dash().post(f"{RULES}{rule.pk}", form(name="changed", webhook_url="", emails=""))
    assert response.status_code == 400 and "needs a webhook URL or email" in errors_of(response)
    assert [r.name for r in rules_of(world.acme.tenant)] == ["keep me"]


@pytest.mark.parametrize("role", [Role.USER, Role.AUDITOR])
def test_only_admins_see_alert_pages(world, dash, role):
    rule = make_rule(world.acme.tenant)
    client = dash(role)
    for url in (RULES, f"{RULES}new", f"{RULES}{rule.pk}", f"{RULES}{rule.pk}/history", f"{RULES}{rule.pk}/delete"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"{RULES}new", form()).status_code == 403
    assert client.post(f"{RULES}{rule.pk}", form(name="theirs")).status_code == 403
    assert client.post(f"{RULES}{rule.pk}/mute", {"action": "mute", "duration": "3600"}).status_code == 403
    assert client.post(f"{RULES}{rule.pk}/delete").status_code == 403
    (kept,) = rules_of(world.acme.tenant)
    assert kept.name == "rule" and not kept.is_muted()


def test_another_tenants_rules_are_neither_listed_nor_reachable(world, dash):
    theirs = make_rule(world.globex.tenant, name="globex secret rule")
    with InSchema(world.acme.tenant):
        AlertRule.objects.filter(pk=theirs.pk).delete()  # so that the id names nothing in acme
    client = dash()
    assert "globex secret rule" not in client.get(RULES).content.decode()
    for url in (f"{RULES}{theirs.pk}", f"{RULES}{theirs.pk}/history", f"{RULES}{theirs.pk}/delete"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"{RULES}{theirs.pk}", form(name="mine")).status_code == 404
    assert client.post(f"{RULES}{theirs.pk}/mute", {"action": "mute", "duration": "3600"}).status_code == 404
    assert client.post(f"{RULES}{theirs.pk}/delete").status_code == 404
    (kept,) = rules_of(world.globex.tenant)
    assert kept.name == "globex secret rule" and not kept.is_muted()


def test_every_post_needs_the_csrf_token(world, dash):
    rule = make_rule(world.acme.tenant)
    client = dash(csrf=True)
    assert client.post(f"{RULES}new", form()).status_code == 403
    assert client.post(f"{RULES}{rule.pk}", form(name="changed")).status_code == 403
    assert client.post(f"{RULES}{rule.pk}/mute", {"action": "mute", "duration": "3600"}).status_code == 403
    assert client.post(f"{RULES}{rule.pk}/delete").status_code == 403
    (kept,) = rules_of(world.acme.tenant)
    assert kept.name == "rule" and not kept.is_muted()
    html = client.get(f"{RULES}new").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert client.post(f"{RULES}new", {**form(), "csrfmiddlewaretoken": token}).status_code == 302


def test_history_lists_firings_newest_first_in_pages(world, dash):
    rule = make_rule(world.acme.tenant)
    with InSchema(world.acme.tenant):
        firings = [AlertFiring.objects.create(rule=rule, condition="every", match_count=i + 1) for i in range(30)]
        AlertDelivery.objects.create(
            firing=firings[-1], channel="webhook", target="https://x.test", status="failed", attempts=3, error="boom"
        )
    client = dash()
    first = client.get(f"{RULES}{rule.pk}/history").content.decode()
    shown = [int(pk) for pk in re.findall(r'id="firing-(\d+)"', first)]
    assert shown == [f.pk for f in reversed(firings)][:25]
    assert "webhook: failed, 3 attempts" in first and "boom" in first
    older = re.search(r'href="([^"]+before=\d+)"', first).group(1).replace("&amp;", "&")
    partial = client.get(older, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    rest = [int(pk) for pk in re.findall(r'id="firing-(\d+)"', partial.content.decode())]
    assert rest == [f.pk for f in reversed(firings)][25:]
    assert "firings-more" not in partial.content.decode()
    assert client.get(f"{RULES}{rule.pk}/history?before=x").status_code == 400
