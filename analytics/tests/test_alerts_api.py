"""Alert rules through the API: CRUD, validation naming fields, roles and tenant isolation, history pages."""

import pytest
from django.db import connection

from analytics.models import AlertDelivery, AlertFiring, AlertRule
from tenants.models import Role

from . import alerts_support
from .alerts_support import admin, history, rule_create

alert_settings = alerts_support.alert_settings

pytestmark = pytest.mark.usefixtures("alert_settings")


def count_rules(tenant) -> int:
    connection.set_tenant(tenant)
    try:
        return AlertRule.objects.count()
    finally:
        connection.set_schema_to_public()


def test_crud(world, api):
    client = admin(world, api)
    created = rule_create(
        client,
        name="Failed logins",
        filters={"action": "login", "severity": "ERROR,CRITICAL", "metadata.outcome": "failure"},
        condition="threshold",
        threshold_count=5,
        window_seconds=300,
        webhook_url="https://hooks.example.com/audit",
        emails=["sec@acme.test"],
    )
    assert created["filters"] == {"action": "LOGIN", "severity": "ERROR,CRITICAL", "metadata.outcome": "failure"}
    assert created["webhook_secret"].startswith("whsec_") and len(created["webhook_secret"]) > 40
    assert created["created_by"]["id"] == f"user:{world.acme.users[Role.ADMIN].pk}"
    assert created["muted"] is False and created["enabled"] is True
    rid = created["id"]

    listed = client.get("/api/v1/alerts").json()["results"]
    assert [r["id"] for r in listed] == [rid] and "webhook_secret" not in listed[0]
    assert client.get(f"/api/v1/alerts/{rid}").json()["webhook_secret"] == created["webhook_secret"]

    patched = client.patch(f"/api/v1/alerts/{rid}", {"name": "Logins", "enabled": False}, format="json").json()
    assert patched["name"] == "Logins" and patched["enabled"] is False
    assert patched["threshold_count"] == 5 and patched["webhook_secret"] == created["webhook_secret"]
    rotated = client.patch(f"/api/v1/alerts/{rid}", {"rotate_secret": True}, format="json").json()
    assert rotated["webhook_secret"] != created["webhook_secret"]
    every = client.patch(f"/api/v1/alerts/{rid}", {"condition": "every"}, format="json").json()
    assert every["threshold_count"] is None and every["window_seconds"] is None

    assert client.delete(f"/api/v1/alerts/{rid}").status_code == 204
    assert client.get(f"/api/v1/alerts/{rid}").status_code == 404
    assert client.get("/api/v1/alerts").json()["results"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"emails": ["a@acme.test"]}, "name"),
        ({"name": "", "emails": ["a@acme.test"]}, "name"),
        ({"name": "x"}, "webhook_url"),  # no channel
        ({"name": "x", "emails": ["a@acme.test"], "filters": {"actionz": "LOGIN"}}, "filters.actionz"),
        ({"name": "x", "emails": ["a@acme.test"], "filters": {"severity": "LOUD"}}, "filters.severity"),
        ({"name": "x", "emails": ["a@acme.test"], "filters": {"from": "2026-01-01T00:00:00Z"}}, "filters"),
        ({"name": "x", "emails": ["a@acme.test"], "filters": {"limit": "5"}}, "filters.limit"),
        ({"name": "x", "emails": ["a@acme.test"], "filters": {"action": 5}}, "filters"),
        ({"name": "x", "emails": ["a@acme.test"], "filters": ["action"]}, "filters"),
        ({"name": "x", "emails": ["a@acme.test"], "condition": "sometimes"}, "condition"),
        ({"name": "x", "emails": ["a@acme.test"], "condition": "threshold"}, "threshold_count"),
        ({"name": "x", "emails": ["a@acme.test"], "condition": "threshold", "threshold_count": 3}, "window_seconds"),
        (
            {
                "name": "x",
                "emails": ["a@acme.test"],
                "condition": "threshold",
                "threshold_count": 0,
                "window_seconds": 60,
            },
            "threshold_count",
        ),  # fmt: skip
        (
            {
                "name": "x",
                "emails": ["a@acme.test"],
                "condition": "threshold",
                "threshold_count": True,
                "window_seconds": 60,
            },
            "threshold_count",
        ),  # fmt: skip
        ({"name": "x", "webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"name": "x", "webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"name": "x", "webhook_url": "https://user:pw@example.com/x"}, "webhook_url"),
        ({"name": "x", "webhook_url": "http://example.com:99999/x"}, "webhook_url"),
        ({"name": "x", "webhook_url": 12}, "webhook_url"),
        ({"name": "x", "webhook_url": f"https://{'a' * 64}.example.com/x"}, "webhook_url"),
        ({"name": "x", "emails": ["not an address"]}, "emails.0"),
        ({"name": "x", "emails": "a@acme.test"}, "emails"),
        ({"name": "x", "emails": ["a@acme.test"], "muted_until": "2030-01-01T00:00:00"}, "muted_until"),
        ({"name": "x", "emails": ["a@acme.test"], "muted_until": "soon"}, "muted_until"),
        ({"name": "x", "emails": ["a@acme.test"], "enabled": "yes"}, "enabled"),
        ({"name": "x", "emails": ["a@acme.test"], "colour": "red"}, "colour"),
        ({"name": "x\x00", "emails": ["a@acme.test"]}, "name"),
    ],
)
def test_invalid_rules_are_400_naming_the_field_and_nothing_is_stored(world, api, body, field):
    response = admin(world, api).post("/api/v1/alerts", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["details"], error
    assert count_rules(world.acme.tenant) == 0


def test_a_patch_is_validated_against_the_stored_rule(world, api):
    client = admin(world, api)
    rid = rule_create(client, emails=["a@acme.test"])["id"]
    response = client.patch(f"/api/v1/alerts/{rid}", {"condition": "threshold", "threshold_count": 2}, format="json")
    assert response.status_code == 400 and "window_seconds" in response.json()["error"]["details"]
    response = client.patch(f"/api/v1/alerts/{rid}", {"emails": []}, format="json")  # would leave no channel
    assert response.status_code == 400 and "webhook_url" in response.json()["error"]["details"]
    assert client.get(f"/api/v1/alerts/{rid}").json()["condition"] == "every"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/x", "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
     "http://localhost/x", "http://internal.localhost/x", "http://[::ffff:127.0.0.1]/x", "http://192.168.0.1/x"],
)  # fmt: skip
def test_private_webhook_addresses_are_refused_unless_allowed(world, api, alert_settings, url):
    alert_settings(ALERT_WEBHOOK_ALLOW_PRIVATE=False)
    response = admin(world, api).post("/api/v1/alerts", {"name": "x", "webhook_url": url}, format="json")
    assert response.status_code == 400 and "webhook_url" in response.json()["error"]["details"]
    alert_settings(ALERT_WEBHOOK_ALLOW_PRIVATE=True)
    assert admin(world, api).post("/api/v1/alerts", {"name": "x", "webhook_url": url}, format="json").status_code == 201


@pytest.mark.parametrize("who", ["auditor", "user", "read", "export", "ingest"])
def test_only_admins_manage_alerts(world, api, who):
    rid = rule_create(admin(world, api), emails=["a@acme.test"])["id"]
    credential = world.acme.tokens[Role[who.upper()]] if who in ("auditor", "user") else world.acme.keys[who]
    client = api(credential)
    assert client.get("/api/v1/alerts").status_code == 403
    assert client.post("/api/v1/alerts", {"name": "x", "emails": ["a@acme.test"]}, format="json").status_code == 403
    assert client.get(f"/api/v1/alerts/{rid}").status_code == 403
    assert client.patch(f"/api/v1/alerts/{rid}", {"enabled": False}, format="json").status_code == 403
    assert client.delete(f"/api/v1/alerts/{rid}").status_code == 403
    assert client.get(f"/api/v1/alerts/{rid}/history").status_code == 403
    assert api(None).get("/api/v1/alerts").status_code == 401
    assert admin(world, api).get(f"/api/v1/alerts/{rid}").json()["enabled"] is True


def test_another_tenant_neither_sees_nor_changes_acmes_rules(world, api):
    rid = rule_create(admin(world, api), name="acme only", emails=["a@acme.test"])["id"]
    globex = admin(world, api, world.globex)
    assert globex.get("/api/v1/alerts").json()["results"] == []
    assert globex.get(f"/api/v1/alerts/{rid}").status_code == 404
    assert globex.patch(f"/api/v1/alerts/{rid}", {"name": "mine"}, format="json").status_code == 404
    assert globex.delete(f"/api/v1/alerts/{rid}").status_code == 404
    assert globex.get(f"/api/v1/alerts/{rid}/history").status_code == 404
    own = rule_create(globex, name="globex", emails=["g@globex.test"])
    assert [r["name"] for r in admin(world, api).get("/api/v1/alerts").json()["results"]] == ["acme only"]
    assert admin(world, api).get(f"/api/v1/alerts/{own['id']}").status_code == 404
    assert admin(world, api).get(f"/api/v1/alerts/{rid}").json()["name"] == "acme only"


def test_history_is_newest_first_in_pages_with_deliveries(world, api):
    client = admin(world, api)
    rid = rule_create(client, emails=["a@acme.test"])["id"]
    connection.set_tenant(world.acme.tenant)
    rule = AlertRule.objects.get(pk=rid)
    firings = [AlertFiring.objects.create(rule=rule, condition="every", match_count=i + 1) for i in range(5)]
    AlertDelivery.objects.create(firing=firings[-1], channel="email", target="a@acme.test", status="delivered")
    connection.set_schema_to_public()
    first = client.get(f"/api/v1/alerts/{rid}/history", {"limit": 2}).json()
    assert [f["id"] for f in first["results"]] == [firings[4].pk, firings[3].pk]
    assert first["results"][0]["deliveries"][0]["status"] == "delivered"
    assert first["results"][1]["deliveries"] == []
    seen = [f["id"] for f in first["results"]]
    url = first["next"]
    while url:
        page = client.get(url).json()
        seen += [f["id"] for f in page["results"]]
        url = page["next"]
    assert seen == [f.pk for f in reversed(firings)]
    assert history(client, rid) and len(history(client, rid)) == 5
    bad = [({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "\u00b2"}, "limit"),
           ({"before": "x"}, "before"), ({"before": "9" * 30}, "before"), ({"page": "2"}, "page")]  # fmt: skip
    for params, field in bad:
        response = client.get(f"/api/v1/alerts/{rid}/history", params)
        assert response.status_code == 400 and field in response.json()["error"]["details"]
