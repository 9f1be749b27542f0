"""Web security: request limits (431, 414), security headers and CSP, CSRF on the admin login, password rules,
and Django's deployment checklist under production settings."""

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
LOGS = "/api/v1/logs"


def production_env(**extra) -> dict:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "auditlog.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ENCRYPTION_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "ALLOWED_HOSTS": "audit.example.com,.audit.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    }
    env.update(extra)
    return env


def test_deploy_checklist_passes_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_values():
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_SAMESITE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_PROXY_SSL_HEADER, s.PASSWORD_HASHERS[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=production_env(SECURE_HSTS_PRELOAD="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "True",
        "True",
        "Lax",
        "31536000",
        "True",
        "True",
        "True",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


def test_security_headers_on_api_responses(world, api):
    response = api(world.acme.keys["read"]).get(LOGS)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in re.search(r"script-src [^;]*", policy).group(0)


def test_security_headers_on_errors(client, db):
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response


def test_hsts_over_https(client, db, settings):
    # the production values (not DEBUG), as test_production_settings_values reads them
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get("/healthz", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_swagger_ui_needs_no_inline_script(client, db):
    """The docs page runs under the CSP: every script it loads comes from a URL of this origin."""
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    init = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(init)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert b'"validatorUrl": null' in script.content  # the schema's URL is not sent to a third party
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset


def test_a_header_over_8_kib_is_431(world, api):
    response = api(world.acme.keys["read"]).get(LOGS, HTTP_X_PADDING="x" * (8 * 1024))
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "request_header_fields_too_large"


def test_a_header_just_under_the_limit_passes(world, api):
    response = api(world.acme.keys["read"]).get(LOGS, HTTP_X_PADDING="x" * (8 * 1024 - 100))
    assert response.status_code == 200


def test_headers_over_32_kib_in_all_are_431(world, api):
    padding = {f"HTTP_X_PADDING_{i}": "x" * 7000 for i in range(5)}
    response = api(world.acme.keys["read"]).get(LOGS, **padding)
    assert response.status_code == 431
    assert "headers exceed" in response.json()["error"]["message"]


def test_a_query_string_over_8_kib_is_414(world, api):
    response = api(world.acme.keys["read"]).get(LOGS + "?actor_id=" + "a" * (8 * 1024))
    assert response.status_code == 414
    assert response.json()["error"]["code"] == "uri_too_long"


@pytest.mark.parametrize("query", ["actor_id=a%00b", "q=%00", "metadata.k=%00", "source=x%00"])
def test_a_nul_in_the_query_string_is_400(world, api, query):
    response = api(world.acme.keys["read"]).get(f"{LOGS}?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_nul_in_the_path_is_400(world, api):
    response = api(world.acme.keys["read"]).get(f"{LOGS}/abc%00def")
    assert response.status_code == 400


def test_admin_login_refuses_a_post_without_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "platform-staff", "password": PASSWORD})
    assert response.status_code == 403
    page = client.get("/admin/login/")
    token = page.cookies["csrftoken"].value
    assert page.cookies["csrftoken"]["samesite"] == "Lax"
    response = client.post(
        "/admin/login/", {"username": "nobody", "password": "wrong-password", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200  # the form again, with its error: the token was accepted


def test_session_cookie_is_http_only(world):
    client = Client()
    page = client.get("/admin/login/")
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "platform-staff", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"


def test_password_rules(db):
    validate_password(PASSWORD)
    for weak in ("short-pass1", "password1234", "123456789012"):
        with pytest.raises(ValidationError):
            validate_password(weak)


def test_new_members_need_a_strong_password(world, api):
    body = {"username": "weak-one", "email": "weak@acme.test", "password": "elevenchars", "role": "USER"}
    response = api(world.acme.tokens["ADMIN"]).post("/api/v1/members", body, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]


async def asgi_get(path: str, query: bytes = b"", headers=()) -> tuple[int, dict, bytes]:
    """GET through the ASGI application the server runs (a2wsgi in front of Django)."""
    from asgiref.testing import ApplicationCommunicator

    from auditlog.asgi import application

    scope = {
        "type": "http",
        "http_version": "1.1",
        "root_path": "",
        "method": "GET",
        "path": path,
        "query_string": query,
        "headers": [(b"host", b"localhost"), *headers],
        "server": ("localhost", 8000),
        "scheme": "http",
        "asgi": {"version": "3.0"},
    }
    comm = ApplicationCommunicator(application, scope)
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(5)
    body, message = b"", {"more_body": True}
    while message.get("more_body"):  # read to the end, or the server's thread waits on us forever
        message = await comm.receive_output(5)
        body += message.get("body", b"")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


@pytest.mark.asyncio
async def test_limits_and_headers_through_the_asgi_server_app():
    status, headers, body = await asgi_get("/healthz", headers=[(b"x-padding", b"x" * 9000)])
    assert status == 431 and b"request_header_fields_too_large" in body
    assert headers["x-content-type-options"] == "nosniff" and "content-security-policy" in headers
    status, _, body = await asgi_get("/healthz", query=b"a=" + b"x" * 9000)
    assert status == 414 and b"uri_too_long" in body
    status, headers, _ = await asgi_get("/healthz")
    assert status == 200
    assert "content-security-policy" in headers and headers["x-content-type-options"] == "nosniff"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path, headers, code",
    [
        ("/api/v1/logs/stream?actor_id=a%00b&since=x", [], 4400),
        ("/api/v1/logs/stream?q=" + "x" * 9000, [], 4414),
        ("/api/v1/logs/stream", [(b"x-padding", b"x" * 9000)], 4431),
    ],
)
async def test_websocket_handshakes_have_the_same_limits(path, headers, code):
    from channels.testing import WebsocketCommunicator

    from auditlog.asgi import application

    comm = WebsocketCommunicator(application, path, headers=[(b"host", b"localhost"), *headers])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    message = await comm.receive_output(5)
    assert message["type"] == "websocket.close" and message["code"] == code
    await comm.disconnect()


def test_a_rate_limit_below_one_stops_the_service_at_start():
    """Zero requests per window would refuse (or break) every request: it is a configuration error."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=production_env(RATE_READ_PER_MINUTE="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: RATE_READ_PER_MINUTE" in result.stderr
