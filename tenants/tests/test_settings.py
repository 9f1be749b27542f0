"""/api/v1/settings: a tenant's retention, masking rules, sensitive fields and rate limits.

Admins change them, Auditors read them; each tenant has its own; bad rules are refused whole.
"""

import pytest

from tenants.models import Role, TenantSettings
from tenants.selectors import tenant_policy, tenant_policy_cache_clear

URL = "/api/v1/settings"


@pytest.fixture(autouse=True)
def fresh_policies():
    tenant_policy_cache_clear()
    yield
    tenant_policy_cache_clear()


def test_defaults_until_changed(world, api, settings):
    body = api(world.acme.tokens[Role.AUDITOR]).get(URL).json()
    assert body["retention_days"] == settings.AUDITLOG["RETENTION_DAYS"]
    assert body["masking"] == {"keys": [], "paths": [], "patterns": []}
    assert body["sensitive_fields"] == [] and body["updated_at"] is None
    assert body["limits"]["ingest_per_second"] == settings.AUDITLOG["RATE_INGEST_PER_SECOND"]


def test_an_admin_changes_them_and_the_policy_follows(world, api):
    admin = api(world.acme.tokens[Role.ADMIN])
    tenant_policy(world.acme.tenant)  # cached before the change: the change must clear it
    changes = {
        "retention_days": 30,
        "masking": {"keys": ["Customer_Ref"], "paths": ["metadata.card.holder"], "patterns": [r"ACME-\d{6}"]},
        "sensitive_fields": ["metadata.ssn"],
        "limits": {"read_per_minute": 50},
    }
    response = admin.patch(URL, changes, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["retention_days"] == 30 and body["masking"] == changes["masking"]
    assert body["sensitive_fields"] == ["metadata.ssn"] and body["limits"]["read_per_minute"] == 50
    assert api(world.acme.tokens[Role.AUDITOR]).get(URL).json() == body
    policy = tenant_policy(world.acme.tenant)
    assert policy.retention_days == 30 and policy.masking.keys == {"customer_ref"}
    assert policy.masking.patterns[0].search("order ACME-123456") and policy.limits["read_per_minute"] == 50

    # Only what is given changes; a null limit is the default again.
    assert admin.patch(URL, {"limits": {"read_per_minute": None}}, format="json").status_code == 200
    body = admin.get(URL).json()
    assert body["retention_days"] == 30 and body["limits"]["read_per_minute"] != 50


def test_each_tenant_has_its_own(world, api):
    api(world.acme.tokens[Role.ADMIN]).patch(URL, {"retention_days": 7}, format="json")
    assert api(world.globex.tokens[Role.ADMIN]).get(URL).json()["retention_days"] != 7
    assert tenant_policy(world.globex.tenant).retention_days != 7


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": "30"}, "retention_days"),
        ({"masking": {"patterns": ["(unclosed"]}}, "masking.patterns.0"),
        ({"masking": {"patterns": [".*"]}}, "masking.patterns.0"),  # matches everything, even nothing
        ({"masking": {"paths": ["actor.id"]}}, "masking.paths.0"),  # ids stay searchable
        ({"masking": {"keys": "password"}}, "masking.keys"),
        ({"masking": {"regexes": []}}, "masking.regexes"),
        ({"sensitive_fields": ["message"]}, "sensitive_fields.0"),
        ({"limits": {"reads": 5}}, "limits.reads"),
        ({"limits": {"read_per_minute": 0}}, "limits.read_per_minute"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_stored(world, api, changes, field):
    admin = api(world.acme.tokens[Role.ADMIN])
    response = admin.patch(URL, {"retention_days": 45, **changes}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not TenantSettings.objects.filter(tenant=world.acme.tenant, retention_days=45).exists()


def test_a_body_that_is_not_an_object_is_a_400(world, api):
    response = api(world.acme.tokens[Role.ADMIN]).patch(URL, [1, 2], format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("caller", ["user", "read", "ingest", "export"])
def test_users_and_keys_cannot_read_them(world, api, caller):
    credential = world.acme.tokens[Role.USER] if caller == "user" else world.acme.keys[caller]
    assert api(credential).get(URL).status_code == 403


def test_only_admins_change_them(world, api):
    response = api(world.acme.tokens[Role.AUDITOR]).patch(URL, {"retention_days": 5}, format="json")
    assert response.status_code == 403
    assert api(None).get(URL).status_code == 401
