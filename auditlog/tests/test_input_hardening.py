"""Hostile input: every answer is a clear 4xx in the error shape, never a 500, and nothing half-stored.

Bodies are sent as raw bytes, so each test controls exactly what reaches the parser.
"""

import json

import pytest

from conftest import count_events, event_body

LOGS = "/api/v1/logs"
BULK = "/api/v1/logs/bulk"


def post_raw(api, credential, url, raw: bytes, content_type="application/json"):
    return api(credential).generic("POST", url, raw, content_type=content_type)


def error_code(response) -> str:
    return response.json()["error"]["code"]


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_json_nested_deeper_than_the_limit_is_400(world, api, marker):
    inner: list = []
    for _ in range(32):
        inner = [inner]
    body = json.dumps({"events": inner}).encode()  # 34 levels with the envelope
    response = post_raw(api, world.acme.keys["ingest"], BULK, body)
    assert response.status_code == 400
    assert error_code(response) == "malformed_json"
    assert "32 levels" in response.json()["error"]["message"]


def test_json_depth_limit_applies_to_every_json_body(world, api):
    body = json.dumps({"username": "x", "password": nested(40)}).encode()
    response = post_raw(api, None, "/api/v1/auth/token", body)
    assert response.status_code == 400 and error_code(response) == "malformed_json"


def test_json_at_the_depth_limit_reaches_validation(world, api, marker):
    # 32 levels in all: parsed, then refused by the metadata rule (depth 5) with a field path
    body = event_body(source=marker, metadata=nested(31))
    response = post_raw(api, world.acme.keys["ingest"], LOGS, json.dumps(body).encode())
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert "metadata" in response.json()["error"]["details"]


def test_deep_nesting_within_orjsons_own_limit_is_refused_quickly(world, api):
    body = b"[" * 1000 + b"]" * 1000
    response = post_raw(api, world.acme.keys["ingest"], BULK, body)
    assert response.status_code == 400 and error_code(response) == "malformed_json"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"actor": {"id": "a"}, "action": "X", "resource": {"type": "t"}, "metadata": {"n": NaN}}',
        b'{"actor": {"id": "a"}, "action": "X", "resource": {"type": "t"}, "metadata": {"n": Infinity}}',
        b'{"actor": {"id": "a"}, "action": "X", "resource": {"type": "t"}, "metadata": {"n": 1e999}}',
        b'{"actor": {"id": "\\ud800"}, "action": "X", "resource": {"type": "t"}}',
        b'{"actor": {"id": "\xff\xfe"}, "action": "X", "resource": {"type": "t"}}',
        b'{"actor": {"id": "a"}',
    ],
    ids=["nan", "infinity", "overflow", "lone-surrogate", "invalid-utf8", "truncated"],
)
def test_malformed_json_is_400(world, api, marker, raw):
    response = post_raw(api, world.acme.keys["ingest"], LOGS, raw)
    assert response.status_code == 400
    assert error_code(response) == "malformed_json"


def test_huge_integer_is_stored_as_a_number(world, api, marker):
    raw = (
        b'{"actor": {"id": "a"}, "action": "X", "resource": {"type": "t"}, "source": "%s", '
        b'"metadata": {"n": 123456789012345678901234567890}}' % marker.encode()
    )
    response = post_raw(api, world.acme.keys["ingest"], LOGS, raw)
    assert response.status_code == 201, response.content
    assert response.json()["metadata"]["n"] == pytest.approx(1.2345678901234568e29)


def test_duplicate_keys_keep_the_last(world, api, marker):
    raw = (
        b'{"actor": {"id": "first"}, "actor": {"id": "last"}, "action": "X", '
        b'"resource": {"type": "t"}, "source": "%s"}' % marker.encode()
    )
    response = post_raw(api, world.acme.keys["ingest"], LOGS, raw)
    assert response.status_code == 201
    assert response.json()["actor"]["id"] == "last"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_wrong_content_type_is_415(world, api, content_type):
    body = json.dumps(event_body()).encode()
    response = post_raw(api, world.acme.keys["ingest"], LOGS, body, content_type=content_type)
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"actor": {"id": "a", "type": ["user"]}}, "actor.type"),
        ({"actor": {"id": "a", "type": {"x": 1}}}, "actor.type"),
        ({"severity": ["INFO"]}, "severity"),
        ({"severity": {"level": 1}}, "severity"),
        ({"tenant_id": ["acme"]}, "tenant_id"),
        ({"tags": [{"a": 1}]}, "tags.0"),
    ],
)
def test_unhashable_values_are_field_errors(world, api, overrides, path):
    body = json.dumps(event_body(**overrides)).encode()
    response = post_raw(api, world.acme.keys["ingest"], LOGS, body)
    assert response.status_code == 400, response.content
    assert path in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"metadata": {"k" * 300: 1}}, "metadata.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…"),
        ({"metadata": {"note": "x" * 5000}}, "metadata.note"),
        ({"metadata": {"user": {"bio": "x" * 5000}}}, "metadata.user.bio"),
        ({"metadata": {"items": ["ok", "x" * 5000]}}, "metadata.items.1"),
        ({"changes": {"before": {"note": "x" * 5000}, "after": None}}, "changes.before.note"),
        ({"changes": {"before": None, "after": {"k" * 300: 1}}}, "changes.after.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…"),
        ({"tags": ["ok", "t" * 65]}, "tags.1"),
        ({"tenant_id": "a" * 300}, "tenant_id"),
    ],
)
def test_every_free_string_has_a_length_limit(world, api, marker, overrides, path):
    body = json.dumps(event_body(source=marker, **overrides)).encode()
    response = post_raw(api, world.acme.keys["ingest"], LOGS, body)
    assert response.status_code == 400, response.content
    assert path in response.json()["error"]["details"]
    assert count_events(world.acme.tenant, source=marker) == 0


def test_control_characters_are_stripped_from_every_string(world, api, marker):
    dirty = "a\x00b\x07c\x1bd\x7fe\x85f\x9fg\th\ni"
    clean = "abcdefg\th\ni"
    body = event_body(
        source=marker,
        actor={"id": dirty, "name": dirty},
        resource={"type": "t\x00", "id": dirty},
        message=dirty,
        context={"request_id": dirty},
        metadata={"k\x00ey": dirty, "list": [dirty], "deep": {"in\x9fner": dirty}},
        changes={"before": {"f\x00": dirty}, "after": {"f\x00": "new\x01"}},
        tags=[dirty],
    )
    response = post_raw(api, world.acme.keys["ingest"], LOGS, json.dumps(body).encode())
    assert response.status_code == 201, response.content
    stored = api(world.acme.tokens["ADMIN"]).get(f"{LOGS}/{response.json()['id']}").json()
    assert stored["actor"]["id"] == clean and stored["actor"]["name"] == clean
    assert stored["resource"] == {"type": "t", "id": clean}
    assert stored["message"] == clean
    assert stored["context"]["request_id"] == clean
    assert stored["metadata"] == {"key": clean, "list": [clean], "deep": {"inner": clean}}
    assert stored["changes"] == {"before": {"f": clean}, "after": {"f": "new"}}
    assert stored["changed_fields"] == ["f"]
    assert stored["tags"] == [clean]


def test_nul_in_bulk_metadata_never_reaches_postgres(world, api, marker):
    events = [event_body(source=marker, metadata={"\x00": "\x00", "n": "a\x00"}) for _ in range(3)]
    response = post_raw(api, world.acme.keys["ingest"], BULK, json.dumps({"events": events}).encode())
    assert response.status_code == 201, response.content
    assert count_events(world.acme.tenant, source=marker, metadata__n="a") == 3


def test_a_tag_of_only_control_characters_is_refused(world, api, marker):
    body = json.dumps(event_body(source=marker, tags=["\x00\x01"])).encode()
    response = post_raw(api, world.acme.keys["ingest"], LOGS, body)
    assert response.status_code == 400
    assert "tags.0" in response.json()["error"]["details"]


def test_nul_in_a_login_is_400(world, api):
    body = json.dumps({"username": "acme-admin\x00", "password": "x\x00"}).encode()
    response = post_raw(api, None, "/api/v1/auth/token", body)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


def test_non_object_bodies_are_400(world, api):
    for raw in (b"", b"[]", b'"text"', b"42", b"null"):
        assert post_raw(api, world.acme.keys["ingest"], LOGS, raw).status_code == 400
        assert post_raw(api, world.acme.keys["ingest"], BULK, raw).status_code == 400
        assert post_raw(api, None, "/api/v1/auth/token", raw).status_code == 400


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_beyond_the_calendar_in_utc_is_400(world, api, occurred_at):
    body = json.dumps(event_body(occurred_at=occurred_at)).encode()
    response = post_raw(api, world.acme.keys["ingest"], LOGS, body)
    assert response.status_code == 400
    assert "occurred_at" in response.json()["error"]["details"]


def test_a_search_bound_beyond_the_calendar_is_400(world, api):
    response = api(world.acme.keys["read"]).get(LOGS, {"to": "9999-12-31T23:59:59-23:59"})
    assert response.status_code == 400
    assert "to" in response.json()["error"]["details"]


def test_a_scoped_ipv6_address_is_400(world, api):
    body = json.dumps(event_body(context={"ip": "fe80::1%eth0"})).encode()
    response = post_raw(api, world.acme.keys["ingest"], LOGS, body)
    assert response.status_code == 400
    assert "context.ip" in response.json()["error"]["details"]


def test_a_nul_in_a_masking_pattern_is_400(world, api):
    response = api(world.acme.tokens["ADMIN"]).generic(
        "PATCH", "/api/v1/settings", json.dumps({"masking": {"patterns": ["a\x00b"]}}), content_type="application/json"
    )
    assert response.status_code == 400
    assert "masking.patterns.0" in response.json()["error"]["details"]
