"""GET/POST /api/v1/tenants: platform staff list tenants and create them (schema, subdomain, first Admin).

Creating a tenant migrates a schema (about a second), so only one test creates one; the others are refused
before anything is created. The DDL is rolled back with the test's transaction.
"""

import pytest
from django.db import connection

from conftest import PASSWORD
from tenants import selectors
from tenants.models import Domain, Membership, Role, Tenant, User

from .helpers import access_for, assert_error

URL = "/api/v1/tenants"


def new_tenant(slug="initech", username="initech-admin", password=PASSWORD, **extra) -> dict:
    body = {"slug": slug, "name": "Initech Corp", "admin": {"username": username, "email": "it@initech.test"}}
    body["admin"]["password"] = password
    body.update(extra)
    return body


def schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
        return cursor.fetchone() is not None


def test_staff_lists_every_tenant(world, api):
    response = api(world.staff_token).get(URL)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [t["slug"] for t in results] == ["acme", "globex"]
    assert set(results[0]) == {"id", "slug", "name", "created_at"}
    assert results[0]["id"] == world.acme.tenant.pk and results[0]["name"] == "Acme"


@pytest.fixture
def host_cache():
    """Forget cached hosts afterwards: the tenant this test creates is rolled back."""
    yield
    selectors.host_cache_clear()


def test_staff_creates_a_working_tenant(world, api, host_cache):
    # Before, the subdomain is unknown (and remembered as such): the credential alone decides.
    acme_admin = api(world.acme.tokens[Role.ADMIN])
    assert acme_admin.get("/api/v1/members", HTTP_HOST="initech.localhost").status_code == 200

    response = api(world.staff_token).post(URL, new_tenant(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "slug", "name", "created_at"}
    assert (body["slug"], body["name"]) == ("initech", "Initech Corp")
    assert body["created_at"].endswith(("Z", "+00:00"))
    tenant = Tenant.objects.get(pk=body["id"])
    assert schema_exists(tenant.schema_name)
    assert Domain.objects.get(tenant=tenant).domain == "initech.localhost"
    assert Membership.objects.get(tenant=tenant, user__username="initech-admin").role == Role.ADMIN

    # Its first Admin can log in and work in the new, empty schema.
    token = access_for("initech-admin")
    listed = api(token).get("/api/v1/logs")
    assert listed.status_code == 200, listed.content
    assert listed.json() == {"results": [], "next": None}
    assert (
        api(token)
        .post("/api/v1/logs", {"actor": {"id": "a"}, "action": "LOGIN", "resource": {"type": "app"}}, format="json")
        .status_code
        == 201
    )
    assert len(api(token).get("/api/v1/logs").json()["results"]) == 1
    # ... and nothing of it shows in acme.
    assert api(world.acme.keys["read"]).get("/api/v1/logs").json()["results"] == []

    # Its subdomain is known at once: other tenants' credentials are refused there.
    assert api(token).get("/api/v1/members", HTTP_HOST="initech.localhost").status_code == 200
    assert_error(acme_admin.get("/api/v1/members", HTTP_HOST="initech.localhost"), 403, "tenant_mismatch")

    assert [t["slug"] for t in api(world.staff_token).get(URL).json()["results"]] == ["acme", "globex", "initech"]


def test_duplicate_slug_is_409(world, api):
    response = api(world.staff_token).post(URL, new_tenant(slug="acme"), format="json")
    assert_error(response, 409, "conflict")
    assert not User.objects.filter(username="initech-admin").exists()


def test_taken_admin_username_is_409_and_creates_nothing(world, api):
    response = api(world.staff_token).post(URL, new_tenant(username="ACME-admin"), format="json")
    assert_error(response, 409, "conflict")
    assert not Tenant.objects.filter(slug="initech").exists()
    assert not schema_exists("t_initech")


@pytest.mark.parametrize(
    "slug",
    ["Initech", "in tech", "ab", "1nitech", "initech-", "init_ech", "x" * 49, "public", "www", "admin", ""],
)
def test_bad_slug_is_400(world, api, slug):
    error = assert_error(
        api(world.staff_token).post(URL, new_tenant(slug=slug), format="json"), 400, "validation_error"
    )
    assert "slug" in error["details"]
    assert not Tenant.objects.filter(slug=slug).exists()


@pytest.mark.parametrize("password", ["short", "password123", "1234567890123", "initech-admin"])
def test_weak_admin_password_is_400(world, api, password):
    response = api(world.staff_token).post(URL, new_tenant(password=password), format="json")
    error = assert_error(response, 400, "validation_error")
    assert "admin.password" in error["details"]
    assert not Tenant.objects.filter(slug="initech").exists()


def test_invalid_input_is_400_even_when_it_also_conflicts(world, api):
    response = api(world.staff_token).post(
        URL, new_tenant(slug="Acme!", username="acme-admin", password="x"), format="json"
    )
    error = assert_error(response, 400, "validation_error")
    assert {"slug", "admin.password"} <= set(error["details"])


@pytest.mark.parametrize(
    "body, field",
    [
        (new_tenant(plan="gold"), "plan"),
        (new_tenant() | {"admin": {**new_tenant()["admin"], "role": "USER"}}, "admin.role"),
        ({"slug": "initech", "name": "Initech"}, "admin"),
        (new_tenant() | {"admin": "initech-admin"}, "admin.non_field_errors"),
        (new_tenant() | {"admin": {**new_tenant()["admin"], "email": "not-an-email"}}, "admin.email"),
        (new_tenant(name=""), "name"),
    ],
)
def test_unknown_missing_or_malformed_fields_are_400(world, api, body, field):
    error = assert_error(api(world.staff_token).post(URL, body, format="json"), 400, "validation_error")
    assert field in error["details"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_tenant_admins_are_refused(world, api, method):
    client = api(world.acme.tokens[Role.ADMIN])
    response = getattr(client, method)(URL, new_tenant(), format="json")
    assert_error(response, 403, "permission_denied")
    assert not Tenant.objects.filter(slug="initech").exists()


@pytest.mark.parametrize("key", ["ingest", "read", "export"])
def test_api_keys_are_refused(world, api, key):
    assert_error(api(world.acme.keys[key]).get(URL), 403, "permission_denied")


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_401(world, api, method):
    response = getattr(api(), method)(URL, new_tenant(), format="json")
    assert_error(response, 401, "not_authenticated")
    assert not Tenant.objects.filter(slug="initech").exists()
