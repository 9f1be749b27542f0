"""Unit tests of tenants.selectors and tenants.services: key parsing and lookup, memberships, hosts, tokens."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from auditlog.errors import FieldErrors
from tenants import selectors, services
from tenants.models import ApiKey, Domain, Membership, Role, User


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("alk_abc123_s3cret", ("abc123", "alk_abc123_s3cret")),
        ("alk_abc_with_underscores", ("abc", "alk_abc_with_underscores")),
        ("alk__secret", None),
        ("alk_abc_", None),
        ("alk_abc", None),
        ("abc_def_ghi", None),
        ("", None),
        ("alk_" + "p" * 17 + "_secret", None),
    ],
)
def test_api_key_split(raw, expected):
    assert selectors.api_key_split(raw) == expected


def test_secret_digest_is_sha256_hex():
    assert selectors.secret_digest("alk_x_y") == hashlib.sha256(b"alk_x_y").hexdigest()


def test_api_key_authenticate_finds_a_live_key_with_its_tenant(world):
    key = selectors.api_key_authenticate(world.acme.keys["read"])
    assert key is not None and key.tenant == world.acme.tenant and key.scopes == ["read"]


def test_api_key_authenticate_refuses_dead_or_wrong_keys(world):
    raw = world.acme.keys["read"]
    assert selectors.api_key_authenticate(world.acme.keys["revoked"]) is None
    assert selectors.api_key_authenticate(raw + "x") is None
    assert selectors.api_key_authenticate("alk_ffffffffffff_" + raw.rsplit("_", 1)[1]) is None
    assert selectors.api_key_authenticate("not a key") is None
    ApiKey.objects.filter(tenant=world.acme.tenant, name="read key").update(expires_at=timezone.now())
    assert selectors.api_key_authenticate(raw) is None


def test_membership_get(world):
    user = world.acme.users[Role.AUDITOR]
    assert selectors.membership_get(user_id=user.pk, tenant_slug="acme").role == Role.AUDITOR
    assert selectors.membership_get(user_id=user.pk, tenant_slug="globex") is None
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert selectors.membership_get(user_id=user.pk, tenant_slug="acme") is None


def test_memberships_of_are_ordered_by_tenant(world):
    user = world.globex.users[Role.USER]
    Membership.objects.create(user=user, tenant=world.acme.tenant)
    assert [m.tenant.slug for m in selectors.memberships_of(user)] == ["acme", "globex"]


def test_tenant_lookups(world):
    assert [t.slug for t in selectors.tenant_list()] == ["acme", "globex"]
    assert selectors.tenant_get_by_slug("globex") == world.globex.tenant
    assert selectors.tenant_get_by_slug("nope") is None


@pytest.fixture
def host_cache():
    """An empty host cache, emptied again afterwards (this test's Domain changes are rolled back)."""
    selectors.host_cache_clear()
    yield
    selectors.host_cache_clear()


def test_tenant_for_host_is_cached_until_cleared(world, host_cache):
    assert selectors.tenant_for_host("acme.localhost") == world.acme.tenant
    assert selectors.tenant_for_host("ACME.localhost:8000") == world.acme.tenant
    assert selectors.tenant_for_host("nobody.localhost") is None
    Domain.objects.filter(tenant=world.acme.tenant).delete()
    assert selectors.tenant_for_host("acme.localhost") == world.acme.tenant  # still cached
    selectors.host_cache_clear()
    assert selectors.tenant_for_host("acme.localhost") is None


# --- services -------------------------------------------------------------------------------------------------


def test_schema_name_for():
    assert services.schema_name_for("big-corp") == "t_big_corp"


def test_api_key_create_normalises_scopes_and_checks_expiry(world):
    key, raw = services.api_key_create(tenant=world.acme.tenant, name="k", scopes=["read", "ingest", "read"])
    assert key.scopes == ["ingest", "read"] and raw.startswith(f"alk_{key.prefix}_")
    with pytest.raises(FieldErrors):
        services.api_key_create(tenant=world.acme.tenant, name="k", scopes=[])
    with pytest.raises(FieldErrors):
        services.api_key_create(tenant=world.acme.tenant, name="k", scopes=["read"], expires_at=timezone.now())
    later = timezone.now() + timedelta(hours=1)
    key, _ = services.api_key_create(tenant=world.acme.tenant, name="k", scopes=["read"], expires_at=later)
    assert key.expires_at == later


def test_api_key_revoke_keeps_the_first_time(world):
    key, _ = services.api_key_create(tenant=world.acme.tenant, name="k", scopes=["read"])
    first = services.api_key_revoke(key=key).revoked_at
    assert first is not None
    assert services.api_key_revoke(key=key).revoked_at == first


def test_tokens_issue_binds_the_tenant_only_for_members(world):
    membership = Membership.objects.get(user=world.acme.users[Role.USER])
    member = AccessToken(services.tokens_issue(user=membership.user, membership=membership)["access"])
    staff = AccessToken(services.tokens_issue(user=world.staff, membership=None)["access"])
    assert (member["tenant"], member["role"]) == ("acme", Role.USER)
    assert "tenant" not in staff.payload


@pytest.mark.parametrize("raw", ["", "garbage", "a.b.c"])
def test_token_refresh_of_garbage_is_empty(world, raw):
    assert services.token_refresh(raw_refresh=raw) == {}


def test_member_delete_deactivates_people_left_without_a_tenant(world):
    membership = Membership.objects.get(user=world.acme.users[Role.USER])
    services.member_delete(membership=membership)
    assert not User.objects.get(pk=membership.user_id).is_active


def test_last_admin_check_locks_the_tenant_row(world):
    """Two concurrent demotions of a tenant's last two Admins must not both pass the check."""
    membership = Membership.objects.get(user=world.acme.users[Role.ADMIN])
    with CaptureQueriesContext(connection) as queries, pytest.raises(FieldErrors):
        services.member_update(membership=membership, role=Role.USER)
    assert any("FOR UPDATE" in q["sql"] and "tenants_tenant" in q["sql"] for q in queries.captured_queries)
