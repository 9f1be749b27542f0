"""Every error of the tenants endpoints has the one JSON shape {"error": {"code", "message", "details"?}}:
never HTML, never a 500, whatever is thrown at them."""

import pytest

from conftest import PASSWORD
from tenants.models import Role

from .helpers import assert_error

JSON = "application/json"

# (credential, method, path, raw body or None, content type, status, code)
CASES = [
    # bodies that are not a JSON object
    (None, "post", "/api/v1/auth/token", b"{not json", JSON, 400, "malformed_json"),
    (None, "post", "/api/v1/auth/token", b"", JSON, 400, "validation_error"),
    (None, "post", "/api/v1/auth/token", b"[1, 2]", JSON, 400, "validation_error"),
    (None, "post", "/api/v1/auth/token", b"null", JSON, 400, "validation_error"),
    (None, "post", "/api/v1/auth/token", b'"acme-admin"', JSON, 400, "validation_error"),
    (None, "post", "/api/v1/auth/token", b"[" * 5000, JSON, 400, "malformed_json"),
    (
        None,
        "post",
        "/api/v1/auth/token",
        b"username=a&password=b",
        "application/x-www-form-urlencoded",
        415,
        "unsupported_media_type",
    ),
    (None, "post", "/api/v1/auth/token/refresh", b'{"refresh": 42}', JSON, 401, "authentication_failed"),
    (None, "post", "/api/v1/auth/token/refresh", b'{"refresh": null}', JSON, 400, "validation_error"),
    ("staff", "post", "/api/v1/tenants", b'{"slug": 1, "name": [], "admin": {}}', JSON, 400, "validation_error"),
    ("admin", "post", "/api/v1/members", b'{"username": {"a": 1}}', JSON, 400, "validation_error"),
    ("admin", "post", "/api/v1/api-keys", b'{"name": "k", "scopes": [["read"]]}', JSON, 400, "validation_error"),
    ("admin", "patch", "/api/v1/members/1", b"[]", JSON, 400, "validation_error"),
    # values out of range
    (
        None,
        "post",
        "/api/v1/auth/token",
        b'{"username": "' + b"u" * 151 + b'", "password": "p"}',
        JSON,
        400,
        "validation_error",
    ),
    (
        None,
        "post",
        "/api/v1/auth/token",
        b'{"username": "acme-admin", "password": "a\\u0000b"}',
        JSON,
        400,
        "validation_error",
    ),
    ("admin", "get", "/api/v1/members/99999999999999999999999", None, None, 404, "not_found"),
    ("admin", "delete", "/api/v1/api-keys/99999999999999999999999", None, None, 404, "not_found"),
    # unknown routes and methods
    ("admin", "get", "/api/v1/members/abc", None, None, 404, "not_found"),
    (None, "get", "/api/v1/no-such-thing", None, None, 404, "not_found"),
    (None, "get", "/api/v1/auth/token", None, None, 405, "method_not_allowed"),
    ("admin", "put", "/api/v1/members", b"{}", JSON, 405, "method_not_allowed"),
    ("admin", "delete", "/api/v1/api-keys", None, None, 405, "method_not_allowed"),
    ("staff", "delete", "/api/v1/tenants", None, None, 405, "method_not_allowed"),
    # credentials
    (None, "get", "/api/v1/members", None, None, 401, "not_authenticated"),
    ("user", "get", "/api/v1/members", None, None, 403, "permission_denied"),
]


def credential_for(world, name):
    return {
        None: None,
        "staff": world.staff_token,
        "admin": world.acme.tokens[Role.ADMIN],
        "user": world.acme.tokens[Role.USER],
    }[name]


@pytest.mark.parametrize("credential, method, path, body, content_type, status, code", CASES)
def test_errors_have_the_one_shape(world, api, credential, method, path, body, content_type, status, code):
    client = api(credential_for(world, credential))
    kwargs = {} if body is None else {"data": body, "content_type": content_type}
    assert_error(getattr(client, method)(path, **kwargs), status, code)


def test_validation_errors_name_every_bad_field(world, api):
    response = api(world.staff_token).post(
        "/api/v1/tenants", {"slug": "x", "name": "", "admin": {"username": "a b", "password": PASSWORD}}, format="json"
    )
    details = assert_error(response, 400, "validation_error")["details"]
    assert {"name", "admin.username", "admin.email"} <= set(details)
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in details.values())


def test_a_disallowed_host_is_a_json_400(world, api):
    assert_error(api().get("/api/v1/members", HTTP_HOST="evil.example"), 400, "bad_request")


def test_a_401_names_the_scheme(world, api):
    response = api().get("/api/v1/api-keys")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
