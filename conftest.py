"""Test world: two tenants (acme, globex), built once per test run, with every kind of caller.

Tests run in transactions on top of it; the tenants' schemas are created once.
"""

from dataclasses import dataclass, field

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tenants.keys import data_keys_forget
from tenants.models import Membership, Role, Scope, Tenant, User
from tenants.selectors import tenant_policy_cache_clear
from tenants.services import api_key_create, api_key_revoke, tenant_create, tokens_issue

PASSWORD = "correct-horse-battery-staple"


@dataclass
class TenantWorld:
    tenant: Tenant
    users: dict[str, User] = field(default_factory=dict)  # by role
    tokens: dict[str, str] = field(default_factory=dict)  # access tokens by role
    keys: dict[str, str] = field(default_factory=dict)  # raw secrets: ingest, read, export, revoked, expired


@dataclass
class World:
    acme: TenantWorld
    globex: TenantWorld
    staff: User
    staff_token: str


def _build_tenant(slug: str) -> TenantWorld:
    # Left over by --reuse-db: start again (the schema itself is kept and re-migrated).
    Tenant.objects.filter(slug=slug).delete()
    User.objects.filter(username__startswith=f"{slug}-").delete()
    tenant = tenant_create(
        slug=slug,
        name=slug.title(),
        admin={"username": f"{slug}-admin", "email": f"admin@{slug}.test", "password": PASSWORD},
    )
    tw = TenantWorld(tenant=tenant)
    tw.users[Role.ADMIN] = User.objects.get(username=f"{slug}-admin")
    for role in (Role.AUDITOR, Role.USER):
        user = User.objects.create_user(
            username=f"{slug}-{role.lower()}", email=f"{role.lower()}@{slug}.test", password=PASSWORD
        )
        Membership.objects.create(user=user, tenant=tenant, role=role)
        tw.users[role] = user
    for role, user in tw.users.items():
        membership = Membership.objects.get(user=user, tenant=tenant)
        tw.tokens[role] = tokens_issue(user=user, membership=membership)["access"]
    for scope in Scope.values:
        tw.keys[scope] = api_key_create(tenant=tenant, name=f"{scope} key", scopes=[scope])[1]
    key, raw = api_key_create(tenant=tenant, name="revoked key", scopes=list(Scope.values))
    api_key_revoke(key=key)
    tw.keys["revoked"] = raw
    return tw


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker, django_db_keepdb, django_db_modify_db_settings):
    """The test database, always: pytest-django's own fixture creates it only when a collected test asks for
    `db`, and a run of only committed-world tests would otherwise talk to the configured database."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        created = setup_databases(verbosity=0, interactive=False, keepdb=django_db_keepdb, aliases={"default"})
        _WORLD.append(World(acme=_build_tenant("acme"), globex=_build_tenant("globex"), staff=None, staff_token=""))
        User.objects.filter(username="platform-staff").delete()
        staff = User.objects.create_user(
            username="platform-staff", email="staff@platform.test", password=PASSWORD, is_staff=True
        )
        _WORLD[0].staff = staff
        _WORLD[0].staff_token = tokens_issue(user=staff, membership=None)["access"]
        connection.set_schema_to_public()
    yield
    with django_db_blocker.unblock():
        teardown_databases(created, verbosity=0, keepdb=django_db_keepdb)


_WORLD: list[World] = []


@pytest.fixture
def world(django_db_setup, db) -> World:
    connection.set_schema_to_public()
    return _WORLD[0]


@pytest.fixture
def api():
    """api(credential) -> an APIClient sending it as a Bearer token (None: anonymous)."""

    def make(credential: str | None = None, header: str = "Authorization") -> APIClient:
        client = APIClient()
        if credential and header == "Authorization":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
        elif credential:
            client.credentials(**{"HTTP_" + header.upper().replace("-", "_"): credential})
        return client

    return make


def event_body(**overrides) -> dict:
    body = {"actor": {"id": "alice"}, "action": "UPDATE", "resource": {"type": "order", "id": "o-1"}}
    body.update(overrides)
    return body


@pytest.fixture
def make_event():
    return event_body


@pytest.fixture
def marker() -> str:
    """A unique `source` value, so a test can find exactly the events it wrote."""
    import uuid

    return f"test-{uuid.uuid4().hex[:12]}"


def count_events(tenant: Tenant, **filters) -> int:
    from ingest.models import Event

    connection.set_tenant(tenant)
    try:
        return Event.objects.filter(**filters).count()
    finally:
        connection.set_schema_to_public()


@pytest.fixture
def committed_world(django_db_setup, django_db_blocker, marker) -> World:
    """The test world without a test transaction: writes commit (so they reach the live tail, and
    other threads see them); events written under the marker are removed afterwards."""
    from ingest.models import Event, IdempotencyKey, OutboxEntry

    with django_db_blocker.unblock():
        yield _WORLD[0]
        for tw in (_WORLD[0].acme, _WORLD[0].globex):
            connection.set_tenant(tw.tenant)
            ids = list(Event.objects.filter(source=marker).values_list("id", flat=True))
            IdempotencyKey.objects.filter(event_id__in=ids).delete()
            OutboxEntry.objects.filter(event_id__in=ids).delete()
            Event.objects.filter(source=marker).delete()
        connection.set_schema_to_public()


@pytest.fixture
def fresh_caches():
    """Keys made or policies changed in a rolled-back test transaction must not outlive it in this process."""
    data_keys_forget()
    tenant_policy_cache_clear()
    yield
    data_keys_forget()
    tenant_policy_cache_clear()
