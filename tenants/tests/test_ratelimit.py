"""Rate limits against the real Redis: per tenant and per credential, ingest and reads apart, sign-in attempts,
the 429 answer and its headers, and what happens when Redis cannot be reached.

Each test sets its own small limits and starts and ends with no counters of this test run (the key prefix
carries the test database's name) and no cached tenant policy.
"""

import logging
import threading
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import PASSWORD
from search.tests.stream_support import close_code, opened, tail
from tenants.models import ApiKey, Role
from tenants.ratelimit import Limit, limits_hit
from tenants.selectors import tenant_policy_cache_clear
from tenants.services import api_key_create

from .helpers import assert_error

LOGS = "/api/v1/logs"
TOKEN = "/api/v1/auth/token"


def _redis():
    return redis.Redis.from_url(django_settings.AUDITLOG["RATE_REDIS_URL"])


def _prefix() -> str:
    return django_settings.AUDITLOG["RATE_KEY_PREFIX"]


def _counters_clear():
    client = _redis()
    keys = list(client.scan_iter(f"{_prefix()}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh():
    tenant_policy_cache_clear()
    _counters_clear()
    yield
    tenant_policy_cache_clear()
    _counters_clear()


@pytest.fixture
def limits(settings):
    """limits(read_per_minute_per_credential=3, login_per_minute_per_ip=...) sets the service's defaults."""

    def apply(**overrides):
        settings.AUDITLOG = {**settings.AUDITLOG, **{f"RATE_{k.upper()}": v for k, v in overrides.items()}}
        tenant_policy_cache_clear()

    return apply


def _key(tenant, *scopes: str) -> str:
    return api_key_create(tenant=tenant, name="rate test", scopes=list(scopes or ["read"]))[1]


def _client(credential: str | None = None, **extra) -> APIClient:
    client = APIClient(**extra)
    if credential:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client


def _read(credential: str):
    return _client(credential).get(LOGS, {"limit": 1})


def _ingest(credential: str, marker: str):
    body = {"actor": {"id": "alice"}, "action": "UPDATE", "resource": {"type": "order"}, "source": marker}
    return _client(credential).post(LOGS, body, format="json")


def _login(username: str, ip: str, password: str = PASSWORD):
    return APIClient(REMOTE_ADDR=ip).post(TOKEN, {"username": username, "password": password}, format="json")


# --- the limiter itself -------------------------------------------------------------------------------------------


def test_concurrent_hits_let_exactly_the_limit_through():
    """50 threads at once against 20 a minute for the tenant (30 for the credential): exactly 20 pass, and the
    refused ones consumed nothing of the credential's limit."""
    tenant, own = f"{_prefix()}:{{t}}:tenant", f"{_prefix()}:{{t}}:cred"
    barrier = threading.Barrier(50)
    results = []

    def hit():
        barrier.wait()
        results.append(limits_hit([Limit(tenant, 20, 60), Limit(own, 30, 60)]))

    threads = [threading.Thread(target=hit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(d.allowed for d in results) == 20
    assert sorted(d.remaining for d in results if d.allowed) == list(range(20))
    assert all(d.retry_after >= 1 for d in results if not d.allowed)
    # The credential has used 20 of its 30: under another, fresh tenant limit exactly 10 more pass.
    elsewhere = [limits_hit([Limit(f"{_prefix()}:{{t}}:other", 100, 60), Limit(own, 30, 60)]) for _ in range(11)]
    assert [d.allowed for d in elsewhere] == [True] * 10 + [False]


def test_concurrent_requests_of_one_key_over_http(committed_world, limits):
    """Real commits, several threads and connections: 24 requests of one key against 7 a minute, 7 pass."""
    limits(read_per_minute_per_credential=7)
    key, raw = api_key_create(tenant=committed_world.acme.tenant, name="rate test", scopes=["read"])
    barrier = threading.Barrier(6)
    codes: list[int] = []

    def run():
        try:
            barrier.wait()
            for _ in range(4):
                codes.append(_client(raw).get(f"{LOGS}/{uuid.uuid4()}").status_code)
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=run) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        ApiKey.objects.filter(pk=key.pk).delete()
    assert len(codes) == 24
    assert codes.count(429) == 17, codes
    assert codes.count(404) == 7, codes


# --- tenant and credential limits ---------------------------------------------------------------------------------


def test_tenant_limit_spans_its_credentials_and_spares_other_tenants(world, api):
    admin = api(world.acme.tokens[Role.ADMIN])
    assert admin.patch("/api/v1/settings", {"limits": {"read_per_minute": 4}}, format="json").status_code == 200
    first, second = _key(world.acme.tenant), _key(world.acme.tenant)
    assert [_read(k).status_code for k in (first, second, first, second)] == [200] * 4

    refused = _read(first)
    assert_error(refused, 429, "rate_limited")
    assert refused["X-RateLimit-Limit"] == "4"  # the tenant's limit is the one exhausted
    assert_error(_read(second), 429, "rate_limited")
    assert_error(_read(world.acme.tokens[Role.USER]), 429, "rate_limited")  # people of the tenant too
    assert _read(world.globex.keys["read"]).status_code == 200
    assert _read(_key(world.globex.tenant)).status_code == 200


def test_credential_limit_leaves_other_credentials_of_the_tenant_working(world, limits):
    limits(read_per_minute_per_credential=3)
    tired, fresh = _key(world.acme.tenant), _key(world.acme.tenant)
    assert [_read(tired).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert _read(fresh).status_code == 200
    assert _read(world.acme.tokens[Role.AUDITOR]).status_code == 200  # a person is a credential of their own


def test_people_are_limited_per_person(world, limits):
    limits(read_per_minute_per_credential=2)
    codes = [_read(world.acme.tokens[Role.USER]).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert _read(world.acme.tokens[Role.AUDITOR]).status_code == 200


def test_ingest_and_reads_are_counted_apart(world, limits, marker):
    limits(ingest_per_second_per_credential=1, read_per_minute_per_credential=2)
    key = _key(world.acme.tenant, "ingest", "read")
    assert [_ingest(key, marker).status_code for _ in range(2)] == [201, 429]
    assert [_read(key).status_code for _ in range(3)] == [200, 200, 429]


def test_bulk_ingest_shares_the_ingest_limit(world, limits, marker):
    limits(ingest_per_second_per_credential=1)
    key = _key(world.acme.tenant, "ingest")
    event = {"actor": {"id": "alice"}, "action": "UPDATE", "resource": {"type": "order"}, "source": marker}
    assert _ingest(key, marker).status_code == 201
    refused = _client(key).post(f"{LOGS}/bulk", {"events": [event]}, format="json")
    assert_error(refused, 429, "rate_limited")


def test_refused_request_is_not_stored(world, limits, marker):
    limits(ingest_per_second_per_credential=1)
    key = _key(world.acme.tenant, "ingest", "read")
    assert [_ingest(key, marker).status_code for _ in range(3)] == [201, 429, 429]
    listed = _client(world.acme.keys["read"]).get(LOGS, {"source": marker}).json()["results"]
    assert len(listed) == 1


def test_tenant_override_through_settings_takes_effect_and_null_restores_the_default(world, api):
    admin = api(world.acme.tokens[Role.ADMIN])
    key = _key(world.acme.tenant)
    admin.patch("/api/v1/settings", {"limits": {"read_per_minute_per_credential": 2}}, format="json")
    assert [_read(key).status_code for _ in range(3)] == [200, 200, 429]
    admin.patch("/api/v1/settings", {"limits": {"read_per_minute_per_credential": None}}, format="json")
    assert _read(key).status_code == 200


def test_staff_without_a_tenant_are_limited_per_person(world, api, limits):
    limits(staff_per_minute=2)
    staff = api(world.staff_token)
    assert [staff.get("/api/v1/tenants").status_code for _ in range(3)] == [200, 200, 429]
    assert _read(world.acme.keys["read"]).status_code == 200


def test_counters_are_named_by_prefix_schema_and_credential(world, limits):
    limits(read_per_minute=10, read_per_minute_per_credential=10)  # a counter lives until its limit is whole
    key, raw = api_key_create(tenant=world.acme.tenant, name="rate test", scopes=["read"])
    _read(raw)
    names = {k.decode() for k in _redis().scan_iter(f"{_prefix()}:*")}
    schema = world.acme.tenant.schema_name
    assert names == {f"{_prefix()}:{{{schema}}}:read:tenant", f"{_prefix()}:{{{schema}}}:read:k{key.pk}"}
    assert django_settings.DATABASES["default"]["TEST"]["NAME"] in _prefix()


# --- the answer ---------------------------------------------------------------------------------------------------


def test_headers_count_down_and_the_429_says_when_to_retry(world, limits):
    limits(read_per_minute_per_credential=3)
    key = _key(world.acme.tenant)
    responses = [_read(key) for _ in range(3)]
    assert [r["X-RateLimit-Limit"] for r in responses] == ["3"] * 3
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    # Seconds until the limit is whole again: one emission interval (20 s) per request counted.
    resets = [int(r["X-RateLimit-Reset"]) for r in responses]
    assert resets[0] == 20 and 39 <= resets[1] <= 40 and 58 <= resets[2] <= 60, resets

    refused = _read(key)
    error = assert_error(refused, 429, "rate_limited")
    assert set(error) == {"code", "message"}
    assert 19 <= int(refused["Retry-After"]) <= 20  # until one interval has passed since the first request
    assert refused["X-RateLimit-Remaining"] == "0" and refused["X-RateLimit-Limit"] == "3"


def test_headers_report_the_tighter_limit(world, api, limits):
    limits(read_per_minute=5, read_per_minute_per_credential=50)
    key = _key(world.acme.tenant)
    response = _read(key)
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("5", "4")


def test_unauthenticated_and_forbidden_requests_are_not_counted(world, limits):
    limits(read_per_minute_per_credential=1)
    key = _key(world.acme.tenant)
    anonymous = _client().get(LOGS)
    assert anonymous.status_code == 401 and not anonymous.has_header("X-RateLimit-Limit")
    assert _client(key).post(LOGS, {}, format="json").status_code == 403  # a read key may not ingest
    assert _read(key).status_code == 200


def test_openapi_documents_429_on_every_limited_operation():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path == "/api/v1/auth/token/refresh":
                assert "429" not in responses  # no credential to count against: a refresh token
                continue
            assert "429" in responses, (method, path)
            assert "Retry-After" in responses["429"]["headers"], (method, path)
            if path != "/api/v1/auth/token":
                success = [r for code, r in responses.items() if code.startswith("2")]
                assert all("X-RateLimit-Remaining" in r["headers"] for r in success), (method, path)


# --- sign-in ------------------------------------------------------------------------------------------------------


def test_login_attempts_are_limited_per_username_and_address(world, limits):
    limits(login_per_minute=3, login_per_minute_per_ip=100)
    assert [_login("acme-auditor", "10.1.1.1", "wrong").status_code for _ in range(3)] == [401] * 3
    refused = _login("acme-auditor", "10.1.1.1")  # the right password no longer helps: counted before checking
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 20
    assert_error(_login("ACME-Auditor ", "10.1.1.1"), 429, "rate_limited")  # spelled otherwise, same account
    assert _login("acme-auditor", "10.1.1.2").status_code == 200  # another address
    assert _login("acme-user", "10.1.1.1").status_code == 200  # another account from the same address


def test_login_attempts_are_limited_per_address(world, limits):
    limits(login_per_minute=100, login_per_minute_per_ip=3)
    codes = [_login(name, "10.2.2.2", "wrong").status_code for name in ("a-one", "a-two", "a-three", "acme-user")]
    assert codes == [401, 401, 401, 429]
    assert _login("acme-user", "10.2.2.3").status_code == 200


def test_ipv6_login_attempts_are_counted_per_64_network(world, limits):
    limits(login_per_minute=100, login_per_minute_per_ip=2)
    assert _login("x1", "2001:db8:1:2::1", "wrong").status_code == 401
    assert _login("x2", "2001:db8:1:2::ffff", "wrong").status_code == 401
    assert_error(_login("acme-user", "2001:db8:1:2:aaaa::1"), 429, "rate_limited")
    assert _login("acme-user", "2001:db8:1:3::1").status_code == 200


# --- Redis unreachable --------------------------------------------------------------------------------------------


def test_without_redis_api_requests_pass_and_logins_are_refused(world, limits, settings, marker, caplog):
    limits(read_per_minute_per_credential=1, ingest_per_second_per_credential=1)
    settings.AUDITLOG = {**settings.AUDITLOG, "RATE_REDIS_URL": "redis://127.0.0.1:1/0"}
    key = _key(world.acme.tenant, "ingest", "read")
    with caplog.at_level(logging.WARNING, logger="tenants.ratelimit"):
        assert [_read(key).status_code for _ in range(3)] == [200] * 3
        assert [_ingest(key, marker).status_code for _ in range(3)] == [201] * 3
        refused = _login("acme-user", "10.3.3.3")
    assert "Rate limiter unreachable" in caplog.text
    assert caplog.text.count("Rate limiter unreachable") == 1  # once per back-off, not per request
    assert_error(refused, 503, "service_unavailable")
    assert int(refused["Retry-After"]) >= 1


# --- live tail ----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_live_tail_handshakes_count_as_reads(committed_world, limits):
    limits(read_per_minute_per_credential=2)
    key = committed_world.acme.keys["read"]
    first, second = await opened(tail(token=key)), await opened(tail(token=key))
    assert await first.receive_nothing(timeout=0.2) and await second.receive_nothing(timeout=0.2)
    third = await opened(tail(token=key))
    assert await close_code(third) == 4429
    other = await opened(tail(token=committed_world.acme.tokens[Role.USER]))  # another credential: still open
    assert await other.receive_nothing(timeout=0.2)
    ingest = await opened(tail(token=committed_world.acme.keys["ingest"]))
    assert await close_code(ingest) == 4403  # no right: refused as such, whatever its count
    for comm in (first, second, third, other, ingest):
        await comm.disconnect()
