"""Assertions and small helpers shared by the tenants tests."""

from rest_framework.test import APIClient

from conftest import PASSWORD

ERROR_KEYS = {"code", "message", "details"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is an error of this status in the one JSON shape; returns its `error` object."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= ERROR_KEYS, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    if status == 401:
        # 401 must tell the client how to authenticate (RFC 9110 11.6.1).
        assert response.has_header("WWW-Authenticate"), dict(response.headers)
    return error


def obtain(username: str, password: str = PASSWORD, tenant: str | None = None):
    """POST /api/v1/auth/token anonymously; returns the response."""
    body = {"username": username, "password": password}
    if tenant is not None:
        body["tenant"] = tenant
    return APIClient().post("/api/v1/auth/token", body, format="json")


def access_for(username: str, password: str = PASSWORD, tenant: str | None = None) -> str:
    response = obtain(username, password, tenant)
    assert response.status_code == 200, response.content
    return response.json()["access"]
