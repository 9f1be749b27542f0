"""Dashboard settings pages: members and roles, API keys (secret shown once), and the tenant's policies.

Each page keeps the API's rules (the services are shared), its roles (Admin; the policy readable by Auditors),
the tenant's isolation (another tenant's row is a 404 and stays unchanged), CSRF on every POST, and refuses
bad input with form errors and nothing stored.
"""

import hashlib
import re

import pytest
from django.test import Client

from conftest import PASSWORD
from tenants.models import ApiKey, Membership, Role, TenantSettings, User
from tenants.selectors import tenant_policy, tenant_policy_cache_clear

MEMBERS, KEYS, POLICY = "/app/settings/members", "/app/settings/keys", "/app/settings/policy"


@pytest.fixture(autouse=True)
def fresh_policies():
    tenant_policy_cache_clear()
    yield
    tenant_policy_cache_clear()


@pytest.fixture
def dash(world):
    """dash(role, tw=None, csrf=False) -> a test client signed in as that member of acme (or of `tw`)."""

    def make(role=Role.ADMIN, tw=None, csrf=False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        client.force_login((tw or world.acme).users[role])
        return client

    return make


def csrf_post(client: Client, page: str, url: str, data: dict):
    """POST as a browser does: the token from the page's form (the client enforces CSRF checks)."""
    html = client.get(page).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


def errors_of(response) -> str:
    """The text of the page's error lists."""
    return " ".join(re.findall(r'<ul class="errorlist"[^>]*>(.*?)</ul>', response.content.decode(), re.S))


def new_member(**overrides) -> dict:
    return {"username": "new-person", "email": "new@acme.test", "password": PASSWORD, "role": Role.AUDITOR, **overrides}


# Roles


@pytest.mark.parametrize("url", [MEMBERS, KEYS])
@pytest.mark.parametrize("role", [Role.USER, Role.AUDITOR])
def test_admin_pages_refuse_users_and_auditors(dash, url, role):
    client = dash(role)
    assert client.get(url).status_code == 403
    assert client.post(url, new_member(name="k", scopes=["read"])).status_code == 403
    assert not Membership.objects.filter(user__username="new-person").exists()
    assert not ApiKey.objects.filter(name="k").exists()


def test_an_auditor_reads_the_policy_but_cannot_change_it(world, dash):
    TenantSettings.objects.update_or_create(
        tenant=world.acme.tenant, defaults={"retention_days": 45, "masking": {"patterns": [r"ACME-\d+"]}}
    )
    client = dash(Role.AUDITOR)
    response = client.get(POLICY)
    assert response.status_code == 200
    html = response.content.decode()
    assert "45 days" in html and r"ACME-\d+" in html
    assert 'id="policy-form"' not in html and 'name="retention_days"' not in html
    refused = client.post(POLICY, {"retention_days": "5"})
    assert refused.status_code == 403
    assert TenantSettings.objects.get(tenant=world.acme.tenant).retention_days == 45


def test_a_user_does_not_see_the_policy(dash):
    assert dash(Role.USER).get(POLICY).status_code == 403


def test_settings_nav_follows_the_role(dash):
    admin = dash(Role.ADMIN).get(POLICY).content.decode()
    assert 'href="/app/settings/members"' in admin and 'href="/app/settings/alerts/"' in admin
    auditor = dash(Role.AUDITOR).get(POLICY).content.decode()
    assert 'href="/app/settings/members"' not in auditor and 'href="/app/settings/keys"' not in auditor


# CSRF


@pytest.mark.parametrize(
    "url, data, success",
    [
        (MEMBERS, new_member(), 302),
        (KEYS, {"name": "csrf key", "scopes": ["read"]}, 200),  # the page showing the secret
        (POLICY, {"retention_days": "5"}, 302),
    ],
)
def test_every_post_needs_the_csrf_token(world, dash, url, data, success):
    client = dash(csrf=True)
    assert client.post(url, data).status_code == 403
    assert not Membership.objects.filter(user__username="new-person").exists()
    assert not ApiKey.objects.filter(name="csrf key").exists()
    assert not TenantSettings.objects.filter(tenant=world.acme.tenant, retention_days=5).exists()
    assert csrf_post(client, url, url, data).status_code == success  # with the token, the same POST goes through


def test_row_actions_need_the_csrf_token(world, dash):
    client = dash(csrf=True)
    member = Membership.objects.get(user=world.acme.users[Role.USER])
    key = ApiKey.objects.get(tenant=world.acme.tenant, name="read key")
    assert client.post(f"{MEMBERS}/{member.pk}/role", {"role": Role.ADMIN}).status_code == 403
    assert client.post(f"{MEMBERS}/{member.pk}/remove").status_code == 403
    assert client.post(f"{KEYS}/{key.pk}/revoke").status_code == 403
    member.refresh_from_db()
    key.refresh_from_db()
    assert member.role == Role.USER and key.revoked_at is None
    assert csrf_post(client, MEMBERS, f"{MEMBERS}/{member.pk}/role", {"role": Role.AUDITOR}).status_code == 302
    assert csrf_post(client, KEYS, f"{KEYS}/{key.pk}/revoke", {}).status_code == 302
    member.refresh_from_db()
    key.refresh_from_db()
    assert member.role == Role.AUDITOR and key.revoked_at is not None


# Members


def test_members_lists_the_tenants_people_only(world, dash):
    html = dash().get(MEMBERS).content.decode()
    for role in Role.values:
        assert world.acme.users[role].username in html
        assert world.globex.users[role].username not in html


def test_an_admin_adds_a_member_who_can_sign_in(world, dash):
    response = dash().post(MEMBERS, new_member())
    assert response.status_code == 302 and response["Location"] == MEMBERS
    membership = Membership.objects.select_related("user").get(user__username="new-person")
    assert membership.tenant == world.acme.tenant and membership.role == Role.AUDITOR
    assert membership.user.check_password(PASSWORD) and membership.user.email == "new@acme.test"
    assert "new-person" in dash().get(MEMBERS).content.decode()


@pytest.mark.parametrize(
    "overrides, field_message",
    [
        ({"password": "short"}, "at least 12"),
        ({"password": "123456789012345"}, "entirely numeric"),
        ({"password": "newperson2024"}, "too similar"),
        ({"password": "password1234"}, "too common"),
        ({"username": "bad name!"}, "letters, digits"),
        ({"email": "not-an-email"}, "valid email"),
        ({"role": "OWNER"}, "valid choice"),
        ({"username": "globex-admin"}, "taken"),  # a person of another tenant: the API's 409, as a form error
    ],
)
def test_bad_members_are_form_errors_and_nothing_is_stored(world, dash, overrides, field_message):
    before = set(User.objects.values_list("pk", flat=True))
    response = dash().post(MEMBERS, new_member(**overrides))
    assert response.status_code == 400
    assert field_message in errors_of(response)
    assert set(User.objects.values_list("pk", flat=True)) == before
    assert Membership.objects.filter(tenant=world.acme.tenant).count() == 3


def test_a_role_changes_and_the_last_admin_stays(world, dash):
    client = dash()
    admin = Membership.objects.get(user=world.acme.users[Role.ADMIN])
    user = Membership.objects.get(user=world.acme.users[Role.USER])
    assert client.post(f"{MEMBERS}/{user.pk}/role", {"role": Role.AUDITOR}).status_code == 302
    user.refresh_from_db()
    assert user.role == Role.AUDITOR

    refused = client.post(f"{MEMBERS}/{admin.pk}/role", {"role": Role.USER})
    assert refused.status_code == 400 and "last Admin cannot be demoted" in refused.content.decode()
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    bad = client.post(f"{MEMBERS}/{user.pk}/role", {"role": "ROOT"})
    assert bad.status_code == 400 and "valid choice" in errors_of(bad)

    # With a second Admin, the first may step down, and then loses the page at once.
    client.post(f"{MEMBERS}/{user.pk}/role", {"role": Role.ADMIN})
    assert client.post(f"{MEMBERS}/{admin.pk}/role", {"role": Role.USER})["Location"] == "/app/"
    admin.refresh_from_db()
    assert admin.role == Role.USER and client.get(MEMBERS).status_code == 403


def test_a_member_is_removed_after_confirming_and_the_last_admin_stays(world, dash):
    client = dash()
    user = Membership.objects.get(user=world.acme.users[Role.USER])
    confirm = client.get(f"{MEMBERS}/{user.pk}/remove")
    assert confirm.status_code == 200 and world.acme.users[Role.USER].username in confirm.content.decode()
    assert Membership.objects.filter(pk=user.pk).exists()  # a GET changes nothing
    assert client.post(f"{MEMBERS}/{user.pk}/remove").status_code == 302
    assert not Membership.objects.filter(pk=user.pk).exists()

    admin = Membership.objects.get(user=world.acme.users[Role.ADMIN])
    refused = client.post(f"{MEMBERS}/{admin.pk}/remove")
    assert refused.status_code == 400 and "last Admin cannot be removed" in refused.content.decode()
    assert Membership.objects.filter(pk=admin.pk).exists()


def test_another_tenants_member_is_not_found_and_unchanged(world, dash):
    client = dash()
    theirs = Membership.objects.get(user=world.globex.users[Role.USER])
    assert client.post(f"{MEMBERS}/{theirs.pk}/role", {"role": Role.ADMIN}).status_code == 404
    assert client.get(f"{MEMBERS}/{theirs.pk}/remove").status_code == 404
    assert client.post(f"{MEMBERS}/{theirs.pk}/remove").status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == Role.USER


# API keys


def test_keys_lists_the_tenants_keys_only(world, dash):
    html = dash().get(KEYS).content.decode()
    for key in ApiKey.objects.filter(tenant=world.acme.tenant):
        assert f'data-prefix="{key.prefix}"' in html
    for key in ApiKey.objects.filter(tenant=world.globex.tenant):
        assert key.prefix not in html
    assert "revoked" in html


def test_a_new_keys_secret_is_shown_once_and_only_its_hash_is_kept(world, dash, api):
    client = dash()
    response = client.post(KEYS, {"name": "reporting", "scopes": ["read", "export"]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r'id="new-key-secret"[^>]*value="([^"]+)"', response.content.decode()).group(1)
    key = ApiKey.objects.get(tenant=world.acme.tenant, name="reporting")
    assert secret.startswith(f"alk_{key.prefix}_") and key.scopes == ["export", "read"]
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.created_by == world.acme.users[Role.ADMIN]
    stored = [str(v) for v in ApiKey.objects.filter(pk=key.pk).values().get().values()]
    assert not any(secret in value or secret.split("_", 2)[2] in value for value in stored)
    assert secret not in client.get(KEYS).content.decode()  # never shown again

    assert api(secret).get("/api/v1/logs").status_code == 200
    assert client.get(f"{KEYS}/{key.pk}/revoke").status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is None  # the GET only asks
    assert client.post(f"{KEYS}/{key.pk}/revoke")["Location"] == KEYS
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api(secret).get("/api/v1/logs").status_code == 401


def test_a_key_with_an_expiry(world, dash):
    response = dash().post(KEYS, {"name": "temporary", "scopes": ["ingest"], "expires_at": "2099-01-02T03:04"})
    assert response.status_code == 200
    key = ApiKey.objects.get(tenant=world.acme.tenant, name="temporary")
    assert key.expires_at.isoformat() == "2099-01-02T03:04:00+00:00"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "k", "scopes": []}, "required"),
        ({"name": "k", "scopes": ["admin"]}, "valid choice"),
        ({"name": "", "scopes": ["read"]}, "required"),
        ({"name": "k" * 101, "scopes": ["read"]}, "at most 100"),
        ({"name": "k", "scopes": ["read"], "expires_at": "2001-01-01T00:00"}, "future"),
        ({"name": "k", "scopes": ["read"], "expires_at": "tomorrow"}, "valid date/time"),
    ],
)
def test_bad_keys_are_form_errors_and_nothing_is_stored(world, dash, data, message):
    before = ApiKey.objects.count()
    response = dash().post(KEYS, data)
    assert response.status_code == 400 and message in errors_of(response)
    assert "new-key-secret" not in response.content.decode()
    assert ApiKey.objects.count() == before


def test_another_tenants_key_is_not_found_and_stays_live(world, dash, api):
    client = dash()
    theirs = ApiKey.objects.get(tenant=world.globex.tenant, name="read key")
    assert client.get(f"{KEYS}/{theirs.pk}/revoke").status_code == 404
    assert client.post(f"{KEYS}/{theirs.pk}/revoke").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert api(world.globex.keys["read"]).get("/api/v1/logs").status_code == 200


# Policy


def policy_form(**overrides) -> dict:
    return {
        "retention_days": "30",
        "masking_keys": "Customer_Ref\n",
        "masking_paths": "metadata.card.holder",
        "masking_patterns": "ACME-\\d{6}\r\n\r\ntoken=[a-z0-9]+",
        "sensitive_fields": "metadata.ssn",
        "limit_read_per_minute": "50",
        **overrides,
    }


def test_an_admin_changes_the_policy_and_it_takes_effect(world, dash):
    tenant_policy(world.acme.tenant)  # cached before: the change must reach it
    client = dash()
    form = client.get(POLICY)
    assert form.status_code == 200 and 'id="policy-form"' in form.content.decode()
    response = client.post(POLICY, policy_form())
    assert response.status_code == 302 and response["Location"] == POLICY
    row = TenantSettings.objects.get(tenant=world.acme.tenant)
    assert row.retention_days == 30 and row.sensitive_fields == ["metadata.ssn"]
    assert row.masking == {"keys": ["Customer_Ref"], "paths": ["metadata.card.holder"],
                           "patterns": ["ACME-\\d{6}", "token=[a-z0-9]+"]}  # fmt: skip
    assert row.limits == {"read_per_minute": 50}
    policy = tenant_policy(world.acme.tenant)
    assert policy.retention_days == 30 and policy.masking.patterns[1].search("x token=abc1")
    html = client.get(POLICY).content.decode()
    assert "token=[a-z0-9]+" in html and 'value="50"' in html

    # An emptied limit is the default again; emptied rules are gone.
    client.post(POLICY, policy_form(limit_read_per_minute="", masking_patterns=""))
    row.refresh_from_db()
    assert row.limits == {} and row.masking["patterns"] == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"masking_patterns": "fine\n(unclosed"}, "\u201c(unclosed\u201d: Not a valid RE2"),
        ({"masking_patterns": "a*"}, "matches the empty string"),
        ({"masking_patterns": "(a+)+\\1"}, "Not a valid RE2"),  # backreferences: not RE2
        ({"retention_days": "0"}, "from 1 to 3650"),
        ({"retention_days": "3651"}, "from 1 to 3650"),
        ({"retention_days": "many"}, "whole number"),
        ({"masking_paths": "password"}, "dotted path under metadata"),
        ({"sensitive_fields": "message"}, "under metadata"),
        ({"masking_keys": "x" * 65}, "1 to 64 characters"),
        ({"limit_ingest_per_second": "0"}, "from 1 to"),
    ],
)
def test_bad_policies_are_form_errors_and_nothing_is_stored(world, dash, overrides, message):
    TenantSettings.objects.update_or_create(tenant=world.acme.tenant, defaults={"retention_days": 45})
    response = dash().post(POLICY, policy_form(**overrides))
    assert response.status_code == 400
    assert message in errors_of(response), errors_of(response)
    row = TenantSettings.objects.get(tenant=world.acme.tenant)
    assert row.retention_days == 45 and row.masking == {} and row.limits == {}  # not even the valid fields


def test_each_tenant_keeps_its_own_policy(world, dash):
    dash().post(POLICY, policy_form(retention_days="7"))
    assert not TenantSettings.objects.filter(tenant=world.globex.tenant, retention_days=7).exists()
    html = dash(Role.AUDITOR, tw=world.globex).get(POLICY).content.decode()
    assert "7 days" not in html and "ACME-" not in html
