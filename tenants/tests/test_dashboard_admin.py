"""The Django admin for platform staff: tenants (created as the API creates them), domains, people, memberships,
API keys (listed, revoked, never made or read here), and a tenant's events, read-only, for its members only."""

import uuid

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client

from conftest import PASSWORD
from ingest.models import Event
from search.trail import trail_flush
from tenants.models import ApiKey, Domain, Membership, Role, Tenant, User


@pytest.fixture
def superuser(world):
    return User.objects.create_superuser(
        username=f"root-{uuid.uuid4().hex[:8]}", email="root@x.test", password=PASSWORD
    )


@pytest.fixture
def staff_client(world):
    """Platform staff (no model permissions needed for the events page), not a member of any tenant."""
    client = Client()
    client.force_login(world.staff)
    return client


@pytest.fixture
def secret_event(world, api, make_event):
    marker = uuid.uuid4().hex
    body = make_event(message=f"admin-view {marker}", changes={"before": {"plan": "free"}, "after": {"plan": "gold"}})
    response = api(world.acme.keys["ingest"]).post("/api/v1/logs", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def events_url(tenant) -> str:
    return f"/admin/tenants/tenant/{tenant.pk}/events/"


def test_staff_who_are_no_member_cannot_read_a_tenants_events(world, staff_client, secret_event):
    response = staff_client.get(events_url(world.acme.tenant))
    assert response.status_code == 403
    assert b"Only members of Acme may read its events" in response.content
    assert secret_event["message"].encode() not in response.content


@pytest.mark.parametrize("role, sees_content", [(Role.USER, False), (Role.AUDITOR, True), (Role.ADMIN, True)])
def test_a_member_reads_the_events_as_their_role_sees_them(world, staff_client, secret_event, role, sees_content):
    Membership.objects.create(user=world.staff, tenant=world.acme.tenant, role=role)
    response = staff_client.get(events_url(world.acme.tenant))
    assert response.status_code == 200
    assert secret_event["message"].encode() in response.content
    assert (b"gold" in response.content) is sees_content
    # not a member of globex
    assert staff_client.get(events_url(world.globex.tenant)).status_code == 403


def test_the_events_page_is_read_only_and_recorded(world, staff_client, secret_event):
    Membership.objects.create(user=world.staff, tenant=world.acme.tenant, role=Role.AUDITOR)
    url = events_url(world.acme.tenant)
    assert staff_client.post(url).status_code == 405
    page = staff_client.get(url).content.decode()
    main = page[page.index('id="content-main"') :]
    assert "<form" not in main and "<input" not in main and "<textarea" not in main
    assert Event not in admin.site._registry  # no add, change or delete page for events anywhere
    trail_flush()
    connection.set_tenant(world.acme.tenant)
    try:
        trail = Event.objects.filter(source="auditlog", actor_id=f"user:{world.staff.pk}", action="SEARCH")
        assert trail.exists()
    finally:
        connection.set_schema_to_public()


def test_events_are_paged_newest_first(world, staff_client, api, make_event):
    Membership.objects.create(user=world.staff, tenant=world.acme.tenant, role=Role.USER)
    marker = uuid.uuid4().hex
    bodies = [make_event(message=f"paged {marker} {i:02d}", occurred_at=f"2026-01-01T00:00:{i:02d}Z") for i in range(3)]
    for body in bodies:
        assert api(world.acme.keys["ingest"]).post("/api/v1/logs", body, format="json").status_code == 201
    page = staff_client.get(events_url(world.acme.tenant)).content.decode()
    positions = [page.find(f"paged {marker} {i:02d}") for i in range(3)]
    assert all(p >= 0 for p in positions) and positions == sorted(positions, reverse=True)
    assert staff_client.get(events_url(world.acme.tenant), {"cursor": "not-a-cursor"}).status_code == 200
    assert staff_client.get("/admin/tenants/tenant/987654/events/").status_code == 404


def test_the_tenant_list_links_events_only_where_the_staff_is_a_member(world, superuser):
    client = Client()
    client.force_login(superuser)
    Membership.objects.create(user=superuser, tenant=world.globex.tenant, role=Role.AUDITOR)
    page = client.get("/admin/tenants/tenant/").content.decode()
    assert events_url(world.globex.tenant) in page
    assert events_url(world.acme.tenant) not in page
    change = client.get(f"/admin/tenants/tenant/{world.globex.tenant.pk}/change/").content.decode()
    assert events_url(world.globex.tenant) in change


def test_staff_create_a_tenant_as_the_api_does(world, superuser):
    client = Client()
    client.force_login(superuser)
    bad = client.post(
        "/admin/tenants/tenant/add/",
        {"slug": "9lives", "name": "Bad", "admin_username": "x", "admin_email": "x@x.test", "admin_password": "x"},
    )
    assert bad.status_code == 200 and b"lower-case letters" in bad.content
    assert not Tenant.objects.filter(name="Bad").exists()
    response = client.post(
        "/admin/tenants/tenant/add/",
        {
            "slug": "initech",
            "name": "Initech",
            "admin_username": "initech-admin",
            "admin_email": "admin@initech.test",
            "admin_password": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 302, response.content
    tenant = Tenant.objects.get(slug="initech")
    assert Domain.objects.filter(tenant=tenant, domain="initech.localhost").exists()
    assert Membership.objects.get(tenant=tenant).role == Role.ADMIN
    assert client.get(f"/admin/tenants/tenant/{tenant.pk}/delete/").status_code == 403  # the API deletes tenants
    tenant.delete(force_drop=True)


def test_api_keys_are_listed_and_revoked_but_never_made_or_altered_here(world, superuser):
    client = Client()
    client.force_login(superuser)
    key = ApiKey.objects.filter(tenant=world.acme.tenant, revoked_at__isnull=True).first()
    assert client.get("/admin/tenants/apikey/add/").status_code == 403
    page = client.get(f"/admin/tenants/apikey/{key.pk}/change/").content.decode()
    assert key.secret_hash in page and 'name="secret_hash"' not in page  # shown, not editable
    client.post(f"/admin/tenants/apikey/{key.pk}/change/", {"name": "renamed", "secret_hash": "0" * 64})
    key.refresh_from_db()
    assert key.secret_hash != "0" * 64
    response = client.post(
        "/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [key.pk], "index": 0}, follow=True
    )
    assert b"1 key(s) revoked" in response.content
    key.refresh_from_db()
    assert key.revoked_at is not None


@pytest.mark.parametrize("model", ["tenant", "domain", "user", "membership", "apikey"])
def test_each_list_searches_and_filters(world, superuser, model):
    client = Client()
    client.force_login(superuser)
    response = client.get(f"/admin/tenants/{model}/", {"q": "acme"})
    assert response.status_code == 200
    assert b"acme" in response.content.lower()
    assert b'id="changelist-search"' in response.content
