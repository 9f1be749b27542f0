"""Masking at ingest: built-in detectors, tenant rules, and what reaches storage, the mirror and the live tail.

Detectors are checked on texts (positives and near misses that must stay), then events go through the
API as clients send them, and what was stored, mirrored and streamed is read back.
"""

import time
import uuid

import pytest
import re2
from django.db import connection

from ingest.masking import mask_row, mask_text, secret_key
from ingest.relay import relay_drain
from search.tests.conftest import es  # noqa: F401 - the mirror's stand-in cluster, as a fixture here
from search.tests.stream_support import next_events, opened, tail, written
from tenants.models import Role
from tenants.policies import Masking, Policy
from tenants.selectors import tenant_policy_cache_clear

LOGS, BULK, SETTINGS = "/api/v1/logs", "/api/v1/logs/bulk", "/api/v1/settings"
CARD = "4242 4242 4242 4242"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
NO_RULES = Policy()


@pytest.fixture(autouse=True)
def fresh_policies():
    """Rules set by a test live in its transaction; the per-process policy cache must not outlive it."""
    tenant_policy_cache_clear()
    yield
    tenant_policy_cache_clear()


# Detectors over text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"charged card {CARD} today", "charged card [MASKED:card ****4242] today"),
        ("card 4242-4242-4242-4242", "card [MASKED:card ****4242]"),
        ("amex 378282246310005.", "amex [MASKED:card ****0005]."),
        ("mc 5555555555554444", "mc [MASKED:card ****4444]"),
        ("mail bob.smith+news@example.co.uk now", "mail [MASKED:email] now"),
        ("call +1 (555) 123-4567", "call [MASKED:phone]"),
        ("call +44 20 7946 0958 back", "call [MASKED:phone] back"),
        ("sms +33612345678", "sms [MASKED:phone]"),
        ("office 555-123-4567.", "office [MASKED:phone]."),
        ("office (555) 123-4567", "office [MASKED:phone]"),
        ("UK 020 7946 0958", "UK [MASKED:phone]"),
        ("FR 01 23 45 67 89", "FR [MASKED:phone]"),
        (f"token {JWT} used", "token [MASKED:jwt] used"),
        ("sent Bearer abc123def456ghi789jkl", "sent Bearer [MASKED:token]"),
        ("sent Basic dXNlcjpwYXNzd29yZA==", "sent Basic [MASKED:token]"),
        ("Authorization: Bearer abc123def456ghi789", "Authorization: [MASKED:secret]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [MASKED:access_key]"),
        ("sts ASIAY34FZKBOKMUTVV7A", "sts [MASKED:access_key]"),
        (
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY region=eu",
            "aws_secret_access_key=[MASKED:secret] region=eu",
        ),
        ("gcp AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "gcp [MASKED:access_key]"),
        ("gh ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8", "gh [MASKED:access_key]"),
        ("gh github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "gh [MASKED:access_key]"),
        ("slack xoxb-123456789012-abcdefABCDEF", "slack [MASKED:access_key]"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [MASKED:access_key]"),
        ("stripe rk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [MASKED:access_key]"),
        (
            "key -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY----- end",
            "key [MASKED:private_key] end",
        ),
        ("cut -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r", "cut [MASKED:private_key]"),
        ("login failed password=hunter2 user=bob", "login failed password=[MASKED:secret] user=bob"),
        ('body {"Password": "x1", "n": 1}', 'body {"Password": "[MASKED:secret]", "n": 1}'),
        ("İstanbul PASSWORD=şifre1 ok", "İstanbul PASSWORD=[MASKED:secret] ok"),  # lower-casing lengthens İ
        ("url https://api.test/cb?api_key=abc123&page=2", "url https://api.test/cb?api_key=[MASKED:secret]&page=2"),
        (
            "dsn postgres://admin:s3cr3t@db.internal:5432/app",
            "dsn postgres://admin:[MASKED:secret]@db.internal:5432/app",
        ),
    ],
)
def test_detectors_mask_what_they_find_and_nothing_around_it(text, masked):
    assert mask_text(text) == masked
    assert mask_text(masked) == masked  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "card 4242 4242 4242 4241",  # fails the Luhn check
        "4242424242424241",
        "ts 1733312345678 and 1733312345678123456",  # epoch milliseconds and nanoseconds
        "id 550e8400-e29b-41d4-a716-446655440000",
        "uuid 12345678-1234-1234-1234-123456789012",
        "at 2026-12-04T10:20:30.123456+01:00 and 2026-12-04 10:20:30",
        "from 192.168.100.200 and 2001:db8::7 and 10.0.0.1",
        "versions 3.12.4, 10.0.19045.3693 and 1.2.3-rc.1",
        "order ORD-2024-000123, invoice #123456789012, ref 12345678901",
        "amount 1,234,567.89 EUR, +100.50 points, range 10-20",
        "mac 00:1B:44:11:3A:B7, port 8080, pid 12345",
        "the bearer of bad news on a basic subscription plan",
        "Bearer authentication required",
        "passwordless login; token_type=refresh; max_tokens=512",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        "mail to someone at example dot com, or @handle",
        "[MASKED:email] and [MASKED:card ****4242] stay as they are",
    ],
)
def test_near_misses_stay(text):
    assert mask_text(text) == text


@pytest.mark.parametrize(
    "key",
    [
        "password", "PASSWORD", "db_password", "passwd", "pwd", "new-passphrase", "secret", "client_secret",
        "token", "access_token", "sessionToken", "x-auth-token", "api_key", "apiKey", "APIKey", "X-Api-Key",
        "aws_secret_access_key", "private_key", "authorization", "Proxy-Authorization", "cookie", "Set-Cookie",
        "credentials", "password_hash", "card_cvv",
    ],
)  # fmt: skip
def test_secret_like_key_names(key):
    assert secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["password_changed", "passwordExpiresAt", "token_type", "max_tokens", "token_count", "secret_name", "key",
     "keyboard", "author", "public_key_id", "session_id", "monkey"],
)  # fmt: skip
def test_words_about_secrets_are_not_secrets(key):
    assert not secret_key(key)


def row_of(**fields) -> dict:
    row = {"message": None, "user_agent": None, "metadata": {}, "changes": None}
    row.update(fields)
    return row


def test_secret_keys_mask_whole_values_of_any_type_and_paths_are_recorded():
    row = row_of(
        message=f"paid with {CARD}",
        metadata={
            "db_password": "hunter2",
            "X-Api-Key": 12345,
            "credentials": {"user": "bob", "password": "pw"},
            "token": None,
            "cookie": "",
            "items": [{"note": "mail bob@example.com"}, "plain"],
            "card_number": 4242424242424242,
            "order_no": 4242424242424241,
            "plan": "pro",
        },
        changes={"before": {"password": "old", "status": "active"}, "after": {"password": "new", "status": "ok"}},
    )
    mask_row(row, NO_RULES)
    assert row["message"] == "paid with [MASKED:card ****4242]"
    assert row["metadata"] == {
        "db_password": "[MASKED:secret]",
        "X-Api-Key": "[MASKED:secret]",
        "credentials": "[MASKED:secret]",
        "token": None,  # nothing to hide
        "cookie": "",
        "items": [{"note": "mail [MASKED:email]"}, "plain"],
        "card_number": "[MASKED:card ****4242]",
        "order_no": 4242424242424241,
        "plan": "pro",
    }
    assert row["changes"] == {
        "before": {"password": "[MASKED:secret]", "status": "active"},
        "after": {"password": "[MASKED:secret]", "status": "ok"},
    }
    assert row["masked_fields"] == [
        "changes.after.password",
        "changes.before.password",
        "message",
        "metadata.X-Api-Key",
        "metadata.card_number",
        "metadata.credentials",
        "metadata.db_password",
        "metadata.items.0.note",
    ]


def test_masking_a_masked_row_changes_nothing():
    rules = Policy(masking=Masking(keys=frozenset({"ssn"}), patterns=(re2.compile(r"MASK|[A-Z]{3}-\d{4}"),)))
    row = row_of(
        message=f"ABC-1234 mailed bob@example.com +44 20 7946 0958 {JWT} password=x [MASKED:old]",
        user_agent="curl/8 Basic dXNlcjpwYXNzd29yZA==",
        metadata={"ssn": "123-45-6789", "note": "ZZZ-0000", "deep": {"a": [{"secret": {"x": 1}}]}},
    )
    mask_row(row, rules)
    first = {k: (dict(v) if isinstance(v, dict) else v) for k, v in row.items()}
    assert "[MASKED:rule]" in row["message"] and "[MASKED:old]" in row["message"]
    mask_row(row, rules)
    assert row == first


@pytest.mark.parametrize(
    "value",
    [
        None, 0, -1, 2**80, 1.5e300, True, [], {}, [[[[]]]], "", "\u0000\ufffd\U0001f600", "İstanbul password=ş",
        "@" * 4000, "1" * 4000, "4 " * 2000, "+" + "1 " * 1500, "-----BEGIN PRIVATE KEY-----" * 100, "eyJ" * 1000,
        "a@" * 2000, "password=" * 400,
    ],
)  # fmt: skip
def test_odd_input_never_raises_and_stays_fast(value):
    rules = Policy(masking=Masking(patterns=(re2.compile(r"x+|ACME-\d+"),)))
    row = row_of(message=value if isinstance(value, str) else None, metadata={"v": value, "list": [value]})
    started = time.perf_counter()
    mask_row(row, rules)
    mask_row(row, NO_RULES)
    assert time.perf_counter() - started < 0.5
    assert isinstance(row["masked_fields"], list)


def test_a_pattern_that_matches_nothing_but_boundaries_masks_nothing():
    rules = Policy(masking=Masking(patterns=(re2.compile(r"\b"),)))
    row = row_of(message="a b c", metadata={"note": "plain words"})
    mask_row(row, rules)
    assert (row["message"], row["metadata"], row["masked_fields"]) == ("a b c", {"note": "plain words"}, [])


def test_tenant_rules_on_a_row():
    rules = Policy(
        masking=Masking(
            keys=frozenset({"customer_ref"}),
            paths=("actor.email", "actor.name", "resource.name", "metadata.billing.address", "changes.after.note"),
            patterns=(re2.compile(r"ACME-\d{6}"),),
        )
    )
    row = row_of(
        actor_email="alice@acme.test",
        actor_name="Alice",
        resource_name="Order 7",
        message="order ACME-123456 shipped",
        metadata={"Customer_Ref": 77, "billing": {"address": {"city": "Lyon"}, "vat": "FR1"}},
        changes={"before": None, "after": {"note": "hello"}},
    )
    mask_row(row, rules)
    assert (row["actor_email"], row["actor_name"], row["resource_name"]) == ("[MASKED:rule]",) * 3
    assert row["message"] == "order [MASKED:rule] shipped"
    assert row["metadata"] == {"Customer_Ref": "[MASKED:rule]", "billing": {"address": "[MASKED:rule]", "vat": "FR1"}}
    assert row["changes"] == {"before": None, "after": {"note": "[MASKED:rule]"}}
    assert row["masked_fields"] == [
        "actor.email",
        "actor.name",
        "changes.after.note",
        "message",
        "metadata.Customer_Ref",
        "metadata.billing.address",
        "resource.name",
    ]


def test_searchable_fields_are_never_masked_by_the_built_ins():
    row = row_of(
        id="bob@example.com",
        actor_id="bob@example.com",
        actor_email="bob@example.com",
        action="LOGIN",
        resource_id=CARD,
        source="password=x",
        tags=["bob@example.com"],
    )
    before = dict(row)
    mask_row(row, NO_RULES)
    assert {k: row[k] for k in before} == before and row["masked_fields"] == []


# Through the API ---------------------------------------------------------------------------------------------

SECRET_EVENT = {
    "actor": {"id": "alice", "email": "alice@acme.test", "name": "Alice"},
    "action": "PASSWORD_CHANGE",
    "resource": {"type": "user", "id": "u-1", "name": "Alice A."},
    "message": f"Card {CARD} and bob@example.com used from +44 20 7946 0958",
    "context": {"user_agent": f"sdk/1 Bearer {'9' * 20}abc", "ip": "10.0.0.1"},
    "metadata": {"headers": {"X-Api-Key": "k-123"}, "card": CARD, "plan": "pro", "build": "3.12.4"},
    "changes": {"before": {"password": "old-pw"}, "after": {"password": "new-pw"}},
}
SECRETS = (
    "4242 4242 4242 4242",
    "bob@example.com",
    "7946 0958",
    "99999999999999999999abc",
    "k-123",
    "old-pw",
    "new-pw",
)
MASKED_FIELDS = [
    "changes.after.password",
    "changes.before.password",
    "context.user_agent",
    "message",
    "metadata.card",
    "metadata.headers.X-Api-Key",
]


def with_source(body: dict, marker: str, **extra) -> dict:
    return {**body, "source": marker, **extra}


def raw_row(tenant, event_id) -> str:
    """The stored row as Postgres holds it, every column as text."""
    connection.set_tenant(tenant)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT e::text FROM ingest_event e WHERE id = %s", [event_id])
            (row,) = cursor.fetchone()
        return row
    finally:
        connection.set_schema_to_public()


def shown(api, world, event_id) -> dict:
    """The stored event as an Auditor reads it (sensitive content in clear)."""
    response = api(world.acme.tokens[Role.AUDITOR]).get(f"{LOGS}/{event_id}")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_posted_event_is_stored_masked_and_says_what_was_masked(world, api, marker):
    response = api(world.acme.keys["ingest"]).post(LOGS, with_source(SECRET_EVENT, marker), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["masked_fields"] == MASKED_FIELDS
    event = shown(api, world, response.json()["id"])
    assert event["message"] == "Card [MASKED:card ****4242] and [MASKED:email] used from [MASKED:phone]"
    assert event["context"]["user_agent"] == "sdk/1 Bearer [MASKED:token]"
    assert event["metadata"] == {
        "headers": {"X-Api-Key": "[MASKED:secret]"},
        "card": "[MASKED:card ****4242]",
        "plan": "pro",
        "build": "3.12.4",
    }
    assert event["changes"] == {"before": {"password": "[MASKED:secret]"}, "after": {"password": "[MASKED:secret]"}}
    assert event["changed_fields"] == ["password"]  # that it changed is kept, not to what
    assert event["actor"]["email"] == "alice@acme.test" and event["masked_fields"] == MASKED_FIELDS
    stored = raw_row(world.acme.tenant, event["id"])
    assert not [secret for secret in SECRETS if secret in stored]
    assert "[MASKED:card ****4242]" in stored


def test_a_bulk_post_is_masked_event_by_event(world, api, marker):
    bodies = [with_source(SECRET_EVENT, marker), with_source({**SECRET_EVENT, "message": "nothing here"}, marker)]
    bodies[1] = {k: v for k, v in bodies[1].items() if k not in ("metadata", "changes", "context")}
    response = api(world.acme.keys["ingest"]).post(BULK, {"events": bodies}, format="json")
    assert response.status_code == 201, response.content
    first, second = (shown(api, world, event_id) for event_id in response.json()["ids"])
    assert first["masked_fields"] == MASKED_FIELDS and second["masked_fields"] == []
    assert second["message"] == "nothing here"
    for event_id in response.json()["ids"]:
        assert not [secret for secret in SECRETS if secret in raw_row(world.acme.tenant, event_id)]


def test_a_repeat_returns_the_same_masked_event(world, api, marker):
    body = with_source(SECRET_EVENT, marker, event_id=str(uuid.uuid4()))
    client = api(world.acme.keys["ingest"])
    first = client.post(LOGS, body, format="json")
    again = client.post(LOGS, body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.json()["masked_fields"] == MASKED_FIELDS and "[MASKED:phone]" in again.json()["message"]


RULES = {
    "keys": ["customer_ref"],
    "paths": ["actor.email", "metadata.billing.address"],
    "patterns": [r"ACME-\d{6}"],
}
RULED_EVENT = {
    "actor": {"id": "alice", "email": "alice@acme.test"},
    "action": "UPDATE",
    "resource": {"type": "order", "id": "o-1"},
    "message": "order ACME-123456 shipped",
    "metadata": {"Customer_Ref": "C-77", "billing": {"address": {"city": "Lyon"}, "vat": "FR1"}},
}
RULED_FIELDS = ["actor.email", "message", "metadata.Customer_Ref", "metadata.billing.address"]


def test_tenant_rules_set_in_settings_mask_single_and_bulk_events(world, api, marker):
    response = api(world.acme.tokens[Role.ADMIN]).patch(SETTINGS, {"masking": RULES}, format="json")
    assert response.status_code == 200, response.content
    client = api(world.acme.keys["ingest"])
    single = client.post(LOGS, with_source(RULED_EVENT, marker), format="json").json()["id"]
    bulk = client.post(BULK, {"events": [with_source(RULED_EVENT, marker)]}, format="json").json()["ids"]
    for event_id in (single, *bulk):
        event = shown(api, world, event_id)
        assert event["actor"] == {"id": "alice", "type": "user", "email": "[MASKED:rule]"}
        assert event["message"] == "order [MASKED:rule] shipped"
        assert event["metadata"] == {
            "Customer_Ref": "[MASKED:rule]",
            "billing": {"address": "[MASKED:rule]", "vat": "FR1"},
        }
        assert event["masked_fields"] == RULED_FIELDS
        assert "ACME-123456" not in raw_row(world.acme.tenant, event_id)


def test_one_tenants_rules_do_not_apply_to_another(world, api, marker):
    assert api(world.acme.tokens[Role.ADMIN]).patch(SETTINGS, {"masking": RULES}, format="json").status_code == 200
    response = api(world.globex.keys["ingest"]).post(LOGS, with_source(RULED_EVENT, marker), format="json")
    assert response.status_code == 201, response.content
    event = response.json()
    assert event["message"] == "order ACME-123456 shipped" and event["actor"]["email"] == "alice@acme.test"
    assert event["metadata"] == RULED_EVENT["metadata"] and event["masked_fields"] == []


def test_the_mirror_receives_masked_documents(world, api, marker, es):  # noqa: F811 - the fixture
    response = api(world.acme.keys["ingest"]).post(LOGS, with_source(SECRET_EVENT, marker), format="json")
    event_id = response.json()["id"]
    connection.set_tenant(world.acme.tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()
    document = es.docs("auditlog-t_acme")[event_id]
    assert document["masked_fields"] == MASKED_FIELDS
    assert document["message"].startswith("Card [MASKED:card ****4242]")
    text = str(document)
    assert not [secret for secret in SECRETS if secret in text]


@pytest.mark.asyncio
async def test_the_live_tail_carries_masked_values_only(committed_world, marker):
    w = committed_world
    client = await opened(tail({"source": marker}, token=w.acme.keys["read"]))
    body = with_source({k: v for k, v in SECRET_EVENT.items() if k != "changes"}, marker)
    (event_id,) = await written(w.acme.keys["ingest"], [body])
    (message,) = await next_events(client, 1)
    event = message["event"]
    assert event["id"] == event_id
    assert event["message"] == "Card [MASKED:card ****4242] and [MASKED:email] used from [MASKED:phone]"
    assert event["metadata"]["headers"] == {"X-Api-Key": "[MASKED:secret]"}
    assert event["masked_fields"] == ["context.user_agent", "message", "metadata.card", "metadata.headers.X-Api-Key"]
    assert not [secret for secret in SECRETS if secret in str(message)]
    await client.disconnect()
