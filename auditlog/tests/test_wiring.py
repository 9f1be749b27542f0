"""Project wiring: probes, docs, the error shape outside views, the ASGI app."""

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import override_settings


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_and_redis(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_readyz_reports_redis_down(client, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_openapi_schema_and_docs(client, db):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/v1/logs",
        "/api/v1/logs/bulk",
        "/api/v1/logs/{event_id}",
        "/api/v1/auth/token",
        "/api/v1/auth/token/refresh",
        "/api/v1/tenants",
        "/api/v1/api-keys",
        "/api/v1/members",
    ]:
        assert path in paths
    assert {"get", "post"} <= set(paths["/api/v1/logs"])
    assert "ErrorBody" in schema.json()["components"]["schemas"]
    assert client.get("/api/docs/").status_code == 200


def test_home_page_links_the_docs(client, db):
    assert b"/api/docs/" in client.get("/").content


def test_unknown_url_is_json_404(client, db):
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_json_405(world, api):
    response = api(world.acme.keys["read"]).put("/api/v1/logs", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_disallowed_host_is_400(client, db):
    response = client.get("/healthz", HTTP_HOST="evil.example.com")
    assert response.status_code == 400


@pytest.mark.asyncio
async def test_asgi_application_serves_http():
    from auditlog.asgi import application

    comm = ApplicationCommunicator(
        application,
        {
            "type": "http",
            "http_version": "1.1",
            "root_path": "",
            "method": "GET",
            "path": "/healthz",
            "query_string": b"",
            "headers": [(b"host", b"localhost")],
            "server": ("localhost", 8000),
            "scheme": "http",
            "asgi": {"version": "3.0"},
        },
    )
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(5)
    body, message = b"", {"more_body": True}
    while message.get("more_body"):  # read to the end, or the server's thread waits on us forever
        message = await comm.receive_output(5)
        body += message.get("body", b"")
    assert start["status"] == 200
    assert b'"ok"' in body


def test_each_request_starts_in_the_public_schema(world, api):
    """Connections persist between requests: a tenant's search_path must not leak into the next request."""
    from django.db import connection

    assert api(world.acme.keys["read"]).get("/api/v1/logs").status_code == 200
    assert connection.schema_name == world.acme.tenant.schema_name
    assert api(None).get("/api/v1/logs").status_code == 401
    assert connection.schema_name == "public"
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        assert world.acme.tenant.schema_name not in cursor.fetchone()[0]
