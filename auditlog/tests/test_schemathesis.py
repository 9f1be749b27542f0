"""Property-based API test: every operation of the OpenAPI document, called with valid credentials through the
in-process WSGI app, answers without a 5xx and as the document says (status documented, content type, body).

Deterministic (derandomized Hypothesis, no example database) and bounded (a few examples per operation). It runs
inside the test transaction, so what it writes is rolled back; besides, it never touches what the rest of the
suite relies on:
- DELETE/PATCH of members and DELETE of API keys only target a member and a key made for this run;
- DELETE /api/v1/tenants/{id} only targets an id no tenant has (it would drop a schema);
- POST /api/v1/tenants runs few examples (each valid one creates and migrates a schema);
- PATCH /api/v1/settings never changes rate limits (a low one would leave acme's counters in Redis owing
  time after the rollback, throttling later tests); it runs last, and the tenant's cached policy is dropped
  afterwards.
The reads it makes queue access-trail events in this process; they are dropped afterwards, as the rollback
dropped what they describe.
"""

import time
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import event_body
from ingest.services import event_create
from search.trail import trail_discard
from tenants.models import Membership, Role, Scope, User
from tenants.selectors import tenant_policy_cache_clear
from tenants.services import api_key_create, tokens_issue

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation and mode: valid requests (positive) and requests that break the schema (negative).
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
FEWER = {"POST /api/v1/tenants": 3, "POST /api/v1/auth/token": 3}
LAST = ("PATCH /api/v1/settings",)
NO_SUCH_ID = 2_000_000_000


@contextmanager
def in_test_transaction():
    """Django's WSGI handler closes the connection after each request when it is inside a transaction; the test
    client keeps it open by disconnecting these handlers, and so must a direct WSGI call."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(world):
    from auditlog.wsgi import application

    with in_test_transaction():
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    tenant_policy_cache_clear(world.acme.tenant)
    trail_discard()


def _throwaways(world) -> dict:
    """A member and an API key of acme that this run may change and delete, and an event to read."""
    tenant = world.acme.tenant
    user = User.objects.create_user(username="fuzz-target", email="fuzz@acme.test", password="fuzz-target-pass-1")
    member = Membership.objects.create(user=user, tenant=tenant, role=Role.USER)
    key, _ = api_key_create(tenant=tenant, name="fuzz target", scopes=[Scope.READ])
    admin = world.acme.users[Role.ADMIN]
    refresh = tokens_issue(user=admin, membership=Membership.objects.get(user=admin, tenant=tenant))["refresh"]
    body = event_body(changes={"before": {"plan": "free"}, "after": {"plan": "pro"}}, metadata={"seats": 3})
    connection.set_tenant(tenant)
    try:
        event, _ = event_create(tenant_slug=tenant.slug, body=body)
    finally:
        connection.set_schema_to_public()
    return {"member": member.pk, "key": key.pk, "refresh": refresh, "event": str(event.id)}


def _credential(label: str, world) -> str | None:
    if label.startswith("POST /api/v1/auth/"):
        return None
    if label.startswith(("GET /api/v1/tenants", "POST /api/v1/tenants", "DELETE /api/v1/tenants")):
        return world.staff_token
    if label in ("POST /api/v1/logs", "POST /api/v1/logs/bulk"):
        return world.acme.keys["ingest"]
    return world.acme.tokens[Role.ADMIN]


# Valid requests of these read an object made for the run (a generated id would only ever find nothing).
READ_TARGETS = {
    "GET /api/v1/members/{id}": ("id", "member"),
    "GET /api/v1/api-keys/{id}": ("id", "key"),
    "GET /api/v1/logs/{event_id}": ("event_id", "event"),
}


def _prepare(case, label: str, mode, targets: dict) -> None:
    """Send the run's credential rather than a generated one, pin the operations that could harm the test world
    to objects made for this run, and have valid reads of one object find one."""
    if case.headers:
        for name in [n for n in case.headers if n.lower() in ("authorization", "x-api-key")]:
            del case.headers[name]
    if label in ("PATCH /api/v1/members/{id}", "DELETE /api/v1/members/{id}"):
        case.path_parameters = {"id": targets["member"]}
    elif label == "DELETE /api/v1/api-keys/{id}":
        case.path_parameters = {"id": targets["key"]}
    elif label == "DELETE /api/v1/tenants/{id}":
        case.path_parameters = {"id": NO_SUCH_ID}
    elif label == "POST /api/v1/auth/token/refresh":
        case.body = {"refresh": targets["refresh"]}
    elif label == "PATCH /api/v1/settings" and isinstance(case.body, dict):
        case.body.pop("limits", None)
    elif label in READ_TARGETS and mode is GenerationMode.POSITIVE:
        name, target = READ_TARGETS[label]
        case.path_parameters = {name: targets[target]}


def _run(operation, mode, world, targets) -> str | None:
    """Run one operation's examples in one generation mode; the first failure, as text, or None."""
    label = f"{operation.method.upper()} {operation.path}"
    credential = _credential(label, world)
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}

    @hypothesis_settings(
        max_examples=FEWER.get(label, EXAMPLES[mode]),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def examples(case):
        _prepare(case, label, mode, targets)
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        examples()
    except (Exception, BaseExceptionGroup) as exc:  # failed checks: report them with the operation
        found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
        return f"{label} ({mode.value}):\n" + "\n".join(f"  {type(e).__name__}: {e}" for e in found)
    return None


def test_every_operation_conforms_to_the_schema(api_schema, world):
    targets = _throwaways(world)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations.sort(key=lambda op: f"{op.method.upper()} {op.path}" in LAST)
    assert len(operations) >= 19, [f"{op.method} {op.path}" for op in operations]
    failures, timings = [], {}
    for operation in operations:
        started = time.monotonic()
        for mode in EXAMPLES:
            if failure := _run(operation, mode, world, targets):
                failures.append(failure)
        timings[f"{operation.method.upper()} {operation.path}"] = round(time.monotonic() - started, 2)
    assert not failures, "\n\n".join(failures) + f"\n\ntimings: {timings}"
