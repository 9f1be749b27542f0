"""POST /api/v1/logs: storage, roles, tenant binding, idempotency and bad input."""

import uuid

import pytest

from conftest import count_events, event_body

URL = "/api/v1/logs"


def test_created_event_has_every_field(world, api, marker):
    body = event_body(
        actor={"id": "u-1", "type": "service", "name": "Billing", "email": "b@acme.test", "session_id": "s-1"},
        resource={"type": "invoice", "id": "inv-9", "name": "Invoice 9"},
        severity="error",
        message="Invoice voided",
        context={"ip": "192.0.2.7", "user_agent": "curl/8", "request_id": "r-1", "correlation_id": "c-1"},
        changes={"before": {"status": "open"}, "after": {"status": "void"}},
        metadata={"amount": 12.5, "currency": "EUR"},
        source=marker,
        tags=["billing"],
        occurred_at="2026-01-02T03:04:05+01:00",
    )
    response = api(world.acme.keys["ingest"]).post(URL, body, format="json")
    assert response.status_code == 201, response.content
    event = response.json()
    assert event["actor"] == body["actor"]
    assert event["resource"] == body["resource"]
    assert event["context"] == body["context"]
    assert event["severity"] == "ERROR"
    assert event["occurred_at"] == "2026-01-02T02:04:05+00:00"
    assert event["changed_fields"] == ["status"]
    assert event["metadata"] == {"amount": 12.5, "currency": "EUR"}
    assert event["received_at"] and uuid.UUID(event["id"])
    stored = api(world.acme.keys["read"]).get(f"{URL}/{event['id']}")
    assert stored.status_code == 200
    assert stored.json() == event


def test_admin_token_can_ingest(world, api, marker):
    response = api(world.acme.tokens["ADMIN"]).post(URL, event_body(source=marker), format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("role", ["USER", "AUDITOR"])
def test_people_below_admin_cannot_ingest(world, api, marker, role):
    response = api(world.acme.tokens[role]).post(URL, event_body(source=marker), format="json")
    assert response.status_code == 403
    assert count_events(world.acme.tenant, source=marker) == 0


@pytest.mark.parametrize("key", ["read", "export"])
def test_keys_without_ingest_scope_cannot_ingest(world, api, marker, key):
    response = api(world.acme.keys[key]).post(URL, event_body(source=marker), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_ingest_key_cannot_read(world, api):
    assert api(world.acme.keys["ingest"]).get(URL).status_code == 403


@pytest.mark.parametrize("credential", [None, "alk_nope_nope", "not-a-token", "alk_"])
def test_missing_or_bad_credentials_are_401(world, api, credential):
    response = api(credential).post(URL, event_body(), format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}


def test_revoked_key_is_401(world, api):
    assert api(world.acme.keys["revoked"]).post(URL, event_body(), format="json").status_code == 401


def test_x_api_key_header(world, api, marker):
    client = api(world.acme.keys["ingest"], header="X-API-Key")
    assert client.post(URL, event_body(source=marker), format="json").status_code == 201


def test_tenant_id_of_the_credential_is_accepted(world, api, marker):
    response = api(world.acme.keys["ingest"]).post(URL, event_body(tenant_id="acme", source=marker), format="json")
    assert response.status_code == 201


def test_foreign_tenant_id_is_403_and_nothing_stored(world, api, marker):
    response = api(world.acme.keys["ingest"]).post(URL, event_body(tenant_id="globex", source=marker), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_mismatch"
    assert count_events(world.acme.tenant, source=marker) == 0
    assert count_events(world.globex.tenant, source=marker) == 0


def test_event_lands_only_in_the_credentials_tenant(world, api, marker):
    api(world.globex.keys["ingest"]).post(URL, event_body(source=marker), format="json")
    assert count_events(world.globex.tenant, source=marker) == 1
    assert count_events(world.acme.tenant, source=marker) == 0


def test_repeated_event_id_returns_the_original(world, api, marker):
    client = api(world.acme.keys["ingest"])
    body = event_body(event_id=str(uuid.uuid4()), source=marker, message="first")
    first = client.post(URL, body, format="json")
    second = client.post(URL, {**body, "message": "second"}, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert count_events(world.acme.tenant, source=marker) == 1


def test_idempotency_key_header(world, api, marker):
    client = api(world.acme.keys["ingest"])
    first = client.post(URL, event_body(source=marker), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(URL, event_body(source=marker), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = client.post(URL, event_body(source=marker), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]
    assert count_events(world.acme.tenant, source=marker) == 2


def test_idempotency_keys_are_per_tenant(world, api, marker):
    event_id = str(uuid.uuid4())
    a = api(world.acme.keys["ingest"]).post(URL, event_body(event_id=event_id, source=marker), format="json")
    b = api(world.globex.keys["ingest"]).post(URL, event_body(event_id=event_id, source=marker), format="json")
    assert (a.status_code, b.status_code) == (201, 201)


def test_bad_idempotency_key_header(world, api):
    response = api(world.acme.keys["ingest"]).post(URL, event_body(), format="json", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]


def test_validation_error_shape(world, api, marker):
    response = api(world.acme.keys["ingest"]).post(
        URL,
        {"actor": {}, "action": "no spaces", "resource": {"type": "x"}, "bogus": 1, "source": marker},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"]
    assert {"actor.id", "action", "bogus"} <= set(error["details"])
    assert count_events(world.acme.tenant, source=marker) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2", b'{"a": NaN}', b"\xff\xfe"])
def test_malformed_json_is_400(world, api, raw):
    response = api(world.acme.keys["ingest"]).post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_empty_body_names_the_required_fields(world, api):
    response = api(world.acme.keys["ingest"]).post(URL, b"", content_type="application/json")
    assert response.status_code == 400
    assert {"actor", "action", "resource"} <= set(response.json()["error"]["details"])


def test_json_that_is_not_an_object_is_400(world, api):
    response = api(world.acme.keys["ingest"]).post(URL, b"[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_non_json_content_type_is_415(world, api):
    response = api(world.acme.keys["ingest"]).post(URL, b"a=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_oversized_body_is_413(world, api, marker):
    body = event_body(source=marker, message="x" * 70000)
    response = api(world.acme.keys["ingest"]).post(URL, body, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert count_events(world.acme.tenant, source=marker) == 0


def test_future_and_naive_times_are_400(world, api):
    client = api(world.acme.keys["ingest"])
    for value in ["2999-01-01T00:00:00+00:00", "2026-01-01T00:00:00"]:
        response = client.post(URL, event_body(occurred_at=value), format="json")
        assert response.status_code == 400
        assert "occurred_at" in response.json()["error"]["details"]


def test_nul_bytes_do_not_break_storage(world, api, marker):
    body = event_body(source=marker, message="a\u0000b", metadata={"k": "v\u0000"})
    response = api(world.acme.keys["ingest"]).post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["message"] == "ab"


def test_old_events_outside_partitions_are_stored(world, api, marker):
    body = event_body(source=marker, occurred_at="2001-09-09T01:46:40+00:00")
    response = api(world.acme.keys["ingest"]).post(URL, body, format="json")
    assert response.status_code == 201
    assert count_events(world.acme.tenant, source=marker) == 1
