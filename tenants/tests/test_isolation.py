"""Tenant isolation: the credential decides the tenant; another tenant's objects are 404 as if they did not exist;
a tenant's subdomain refuses other tenants' credentials; platform staff cannot read a tenant they are not in."""

import pytest

from tenants.models import ApiKey, Membership, Role

from .helpers import assert_error, obtain

NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}


@pytest.fixture
def globex_admin(world, api):
    return api(world.globex.tokens[Role.ADMIN])


def acme_key(world) -> ApiKey:
    return ApiKey.objects.get(tenant=world.acme.tenant, name="read key")


def acme_member(world) -> Membership:
    return Membership.objects.get(tenant=world.acme.tenant, user=world.acme.users[Role.USER])


# --- objects of another tenant --------------------------------------------------------------------------------


def test_key_list_shows_only_the_callers_tenant(world, globex_admin):
    ids = {k["id"] for k in globex_admin.get("/api/v1/api-keys").json()["results"]}
    assert ids == set(ApiKey.objects.filter(tenant=world.globex.tenant).values_list("id", flat=True))
    assert ids.isdisjoint(ApiKey.objects.filter(tenant=world.acme.tenant).values_list("id", flat=True))


def test_member_list_shows_only_the_callers_tenant(world, globex_admin):
    usernames = {m["username"] for m in globex_admin.get("/api/v1/members").json()["results"]}
    assert usernames == {"globex-admin", "globex-auditor", "globex-user"}


def test_another_tenants_key_is_404_and_stays_untouched(world, globex_admin, api):
    key = acme_key(world)
    for response in (globex_admin.get(f"/api/v1/api-keys/{key.pk}"), globex_admin.delete(f"/api/v1/api-keys/{key.pk}")):
        assert_error(response, 404, "not_found")
        assert response.json() == NOT_FOUND  # the same answer as for an id that does not exist
    assert globex_admin.get("/api/v1/api-keys/999999").json() == NOT_FOUND
    key.refresh_from_db()
    assert key.revoked_at is None
    assert api(world.acme.keys["read"]).get("/api/v1/logs").status_code == 200


def test_another_tenants_member_is_404_and_stays_untouched(world, globex_admin, api):
    pk = acme_member(world).pk
    for response in (
        globex_admin.get(f"/api/v1/members/{pk}"),
        globex_admin.patch(f"/api/v1/members/{pk}", {"role": Role.ADMIN, "email": "x@globex.test"}, format="json"),
        globex_admin.delete(f"/api/v1/members/{pk}"),
    ):
        assert_error(response, 404, "not_found")
        assert response.json() == NOT_FOUND
    member = acme_member(world)
    assert member.role == Role.USER and member.user.email == "user@acme.test"
    assert api(world.acme.tokens[Role.USER]).get("/api/v1/logs").status_code == 200


def test_key_revoke_does_not_exist_as_patch(world, globex_admin):
    # Only GET and DELETE exist on a key; PATCH is 405 whatever the id, so it reveals nothing either.
    assert_error(globex_admin.patch(f"/api/v1/api-keys/{acme_key(world).pk}", {}, format="json"), 405)
    assert_error(globex_admin.patch("/api/v1/api-keys/999999", {}, format="json"), 405)


@pytest.mark.parametrize("scope", ["ingest", "read", "export"])
def test_keys_of_another_tenant_cannot_reach_key_or_member_objects(world, api, scope):
    client = api(world.globex.keys[scope])
    assert_error(client.get(f"/api/v1/api-keys/{acme_key(world).pk}"), 403)
    assert_error(client.delete(f"/api/v1/api-keys/{acme_key(world).pk}"), 403)
    assert_error(client.delete(f"/api/v1/members/{acme_member(world).pk}"), 403)
    assert acme_key(world).revoked_at is None
    assert Membership.objects.filter(pk=acme_member(world).pk).exists()


def test_events_follow_the_credential(world, api, make_event):
    created = api(world.acme.keys["ingest"]).post("/api/v1/logs", make_event(), format="json")
    assert created.status_code == 201
    event_id = created.json()["id"]

    assert [e["id"] for e in api(world.acme.keys["read"]).get("/api/v1/logs").json()["results"]] == [event_id]
    assert api(world.globex.keys["read"]).get("/api/v1/logs").json()["results"] == []
    assert api(world.globex.tokens[Role.ADMIN]).get("/api/v1/logs").json()["results"] == []
    assert_error(api(world.globex.keys["read"]).get(f"/api/v1/logs/{event_id}"), 404, "not_found")
    assert api(world.acme.keys["read"]).get(f"/api/v1/logs/{event_id}").status_code == 200


# --- tenant subdomains ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["acme.localhost", "acme.localhost:8000", "ACME.localhost"])
@pytest.mark.parametrize(
    "credential, header, path",
    [
        (("tokens", Role.ADMIN), "Authorization", "/api/v1/members"),
        (("keys", "read"), "Authorization", "/api/v1/logs"),
        (("keys", "read"), "X-API-Key", "/api/v1/logs"),
    ],
)
def test_another_tenants_credential_on_a_tenant_host_is_403(world, api, host, credential, header, path):
    kind, name = credential
    globex = api(getattr(world.globex, kind)[name], header=header)
    assert_error(globex.get(path, HTTP_HOST=host), 403, "tenant_mismatch")
    acme = api(getattr(world.acme, kind)[name], header=header)
    assert acme.get(path, HTTP_HOST=host).status_code == 200


def test_tenant_mismatch_stops_writes_too(world, api, make_event):
    response = api(world.globex.keys["ingest"]).post(
        "/api/v1/logs", make_event(), format="json", HTTP_HOST="acme.localhost"
    )
    assert_error(response, 403, "tenant_mismatch")
    assert api(world.acme.keys["read"]).get("/api/v1/logs").json()["results"] == []
    assert api(world.globex.keys["read"]).get("/api/v1/logs").json()["results"] == []


def test_platform_token_on_a_tenant_host_is_403(world, api):
    assert_error(api(world.staff_token).get("/api/v1/tenants", HTTP_HOST="acme.localhost"), 403, "tenant_mismatch")
    assert api(world.staff_token).get("/api/v1/tenants", HTTP_HOST="localhost").status_code == 200


def test_an_unknown_subdomain_leaves_the_credential_in_charge(world, api):
    assert api(world.globex.keys["read"]).get("/api/v1/logs", HTTP_HOST="nobody.localhost").status_code == 200


# --- platform staff -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/logs", "/api/v1/api-keys", "/api/v1/members"])
def test_staff_who_are_not_members_cannot_read_a_tenant(world, api, path):
    assert_error(api(world.staff_token).get(path), 403, "permission_denied")


def test_staff_cannot_write_into_a_tenant(world, api, make_event):
    assert_error(api(world.staff_token).post("/api/v1/logs", make_event(), format="json"), 403)


def test_staff_cannot_obtain_a_token_for_a_tenant_they_are_not_in(world):
    assert_error(obtain("platform-staff", tenant="acme"), 401, "authentication_failed")


def test_staff_made_a_member_can_read_that_tenant(world, api):
    Membership.objects.create(user=world.staff, tenant=world.acme.tenant, role=Role.USER)
    response = obtain("platform-staff", tenant="acme")
    assert response.status_code == 200
    client = api(response.json()["access"])
    assert client.get("/api/v1/logs").status_code == 200
    assert_error(client.get("/api/v1/members"), 403)  # a User there, not an Admin
