"""/api/v1/api-keys: Admins create, list and revoke their tenant's keys; the secret is shown once; keys
work at once, only within their scopes, and stop working when revoked or expired."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import ApiKey, Role

from .helpers import assert_error

URL = "/api/v1/api-keys"
LISTED_FIELDS = {"id", "name", "scopes", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"}


def create(client, **body):
    body.setdefault("name", "billing service")
    body.setdefault("scopes", ["ingest"])
    return client.post(URL, body, format="json")


def event():
    return {"actor": {"id": "svc"}, "action": "CREATE", "resource": {"type": "invoice", "id": "i-1"}}


# --- create, list, detail --------------------------------------------------------------------------------------


def test_admin_creates_a_key_and_sees_its_secret_once(world, admin_api):
    response = create(admin_api, name="billing", scopes=["read", "ingest", "read"])

    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "name", "scopes", "prefix", "key"} <= set(body)
    assert body["name"] == "billing"
    assert body["scopes"] == ["ingest", "read"]
    assert body["key"].startswith(f"alk_{body['prefix']}_") and len(body["key"]) > 40
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.tenant == world.acme.tenant and stored.created_by == world.acme.users[Role.ADMIN]
    assert stored.secret_hash == hashlib.sha256(body["key"].encode()).hexdigest()

    detail = admin_api.get(f"{URL}/{body['id']}")
    listed = admin_api.get(URL)
    for later in (detail, listed):
        assert later.status_code == 200
        assert body["key"].encode() not in later.content
        assert stored.secret_hash.encode() not in later.content
    assert set(detail.json()) == LISTED_FIELDS
    assert detail.json()["prefix"] == body["prefix"]


def test_list_shows_the_tenants_keys_without_secrets(world, admin_api):
    response = admin_api.get(URL)
    assert response.status_code == 200
    results = response.json()["results"]
    assert sorted(k["name"] for k in results) == ["export key", "ingest key", "read key", "revoked key"]
    assert all(set(k) == LISTED_FIELDS for k in results)
    for raw in world.acme.keys.values():
        assert raw.encode() not in response.content
    revoked = next(k for k in results if k["name"] == "revoked key")
    assert revoked["revoked_at"] is not None


def test_a_new_ingest_key_works_at_once_within_its_scope(world, admin_api, api):
    raw = create(admin_api, scopes=["ingest"]).json()["key"]
    assert api(raw).post("/api/v1/logs", event(), format="json").status_code == 201
    assert_error(api(raw).get("/api/v1/logs"), 403, "permission_denied")


def test_a_new_read_key_reads_but_cannot_ingest(world, admin_api, api):
    raw = create(admin_api, scopes=["read"]).json()["key"]
    assert api(raw).get("/api/v1/logs").status_code == 200
    assert_error(api(raw).post("/api/v1/logs", event(), format="json"), 403, "permission_denied")


def test_key_in_x_api_key_header_works_too(world, admin_api, api):
    raw = create(admin_api, scopes=["ingest", "read"]).json()["key"]
    client = api(raw, header="X-API-Key")
    assert client.post("/api/v1/logs", event(), format="json").status_code == 201
    assert len(client.get("/api/v1/logs").json()["results"]) == 1
    assert api(world.acme.keys["read"], header="X-API-Key").get("/api/v1/logs").status_code == 200


def test_a_key_with_a_future_expiry_works(world, admin_api, api):
    expires = (timezone.now() + timedelta(days=1)).isoformat()
    response = create(admin_api, scopes=["read"], expires_at=expires)
    assert response.status_code == 201
    assert response.json()["expires_at"] is not None
    assert api(response.json()["key"]).get("/api/v1/logs").status_code == 200


# --- revoke and expire ----------------------------------------------------------------------------------------


def test_delete_revokes_the_key_at_once(world, admin_api, api):
    created = create(admin_api, scopes=["read"]).json()
    key_client = api(created["key"])
    assert key_client.get("/api/v1/logs").status_code == 200

    response = admin_api.delete(f"{URL}/{created['id']}")
    assert response.status_code == 204

    assert_error(key_client.get("/api/v1/logs"), 401, "authentication_failed")
    assert_error(api(created["key"], header="X-API-Key").get("/api/v1/logs"), 401)
    revoked_at = admin_api.get(f"{URL}/{created['id']}").json()["revoked_at"]
    assert revoked_at is not None
    # Revoking again is harmless and keeps the first revocation time.
    assert admin_api.delete(f"{URL}/{created['id']}").status_code == 204
    assert admin_api.get(f"{URL}/{created['id']}").json()["revoked_at"] == revoked_at


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_revoked_key_is_401(world, api, header):
    assert_error(api(world.acme.keys["revoked"], header=header).get("/api/v1/logs"), 401, "authentication_failed")


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_expired_key_is_401(world, api, header):
    client = api(world.acme.keys["read"], header=header)
    assert client.get("/api/v1/logs").status_code == 200
    ApiKey.objects.filter(tenant=world.acme.tenant, name="read key").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_error(client.get("/api/v1/logs"), 401, "authentication_failed")


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_wrong_secret_with_a_real_prefix_is_401(world, api, header):
    real = world.acme.keys["read"]
    assert_error(api(real[:-4] + "AAAA", header=header).get("/api/v1/logs"), 401)
    assert_error(api("alk_000000000000_nosuchkey", header=header).get("/api/v1/logs"), 401)


def test_deleting_an_unknown_key_is_404(world, admin_api):
    assert_error(admin_api.delete(f"{URL}/999999"), 404, "not_found")
    assert_error(admin_api.get(f"{URL}/999999"), 404, "not_found")


# --- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "write"], "read", None, ["read"] * 4])
def test_bad_scopes_are_400(world, admin_api, scopes):
    error = assert_error(create(admin_api, scopes=scopes), 400, "validation_error")
    assert any(field.startswith("scopes") for field in error["details"]), error


def test_expiry_in_the_past_is_400(world, admin_api):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    error = assert_error(create(admin_api, expires_at=past), 400, "validation_error")
    assert "expires_at" in error["details"]
    assert not ApiKey.objects.filter(name="billing service").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "scopes": ["read"], "key": "alk_mine_secret"}, "key"),
        ({"name": "x", "scopes": ["read"], "tenant": "globex"}, "tenant"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "expires_at": "tomorrow"}, "expires_at"),
    ],
)
def test_unknown_missing_or_malformed_fields_are_400(world, admin_api, body, field):
    error = assert_error(admin_api.post(URL, body, format="json"), 400, "validation_error")
    assert field in error["details"]


# --- who may ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.USER, Role.AUDITOR])
def test_users_and_auditors_are_refused(world, api, role):
    client = api(world.acme.tokens[role])
    key_id = ApiKey.objects.get(tenant=world.acme.tenant, name="read key").pk
    assert_error(client.get(URL), 403, "permission_denied")
    assert_error(create(client), 403, "permission_denied")
    assert_error(client.get(f"{URL}/{key_id}"), 403, "permission_denied")
    assert_error(client.delete(f"{URL}/{key_id}"), 403, "permission_denied")
    assert api(world.acme.keys["read"]).get("/api/v1/logs").status_code == 200  # not revoked
    assert not ApiKey.objects.filter(name="billing service").exists()


@pytest.mark.parametrize("scope", ["ingest", "read", "export"])
def test_keys_cannot_manage_keys(world, api, scope):
    client = api(world.acme.keys[scope])
    assert_error(client.get(URL), 403, "permission_denied")
    assert_error(create(client, scopes=["ingest", "read", "export"]), 403, "permission_denied")


def test_anonymous_is_401_and_platform_staff_403(world, api):
    assert_error(api().get(URL), 401, "not_authenticated")
    assert_error(create(api()), 401, "not_authenticated")
    assert_error(api(world.staff_token).get(URL), 403, "permission_denied")
    assert_error(create(api(world.staff_token)), 403, "permission_denied")


def test_last_used_at_is_recorded_at_most_once_a_minute(world, api):
    from datetime import timedelta

    from django.utils import timezone

    from tenants.models import ApiKey

    key = ApiKey.objects.get(prefix=world.acme.keys["read"].split("_")[1])
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    assert api(world.acme.keys["read"]).get("/api/v1/logs").status_code == 200
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    api(world.acme.keys["read"]).get("/api/v1/logs")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    api(world.acme.keys["read"]).get("/api/v1/logs")
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first
