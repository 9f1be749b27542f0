"""Webhook notifications to a real receiver on loopback: signature and timestamp, retries with the delivery log,
failures that are not retried, addresses refused at delivery, and the whole path from commit to receiver."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_redis import get_redis_connection

from analytics.alerts.notifications import alert_deliver, alert_deliveries_due_all_tenants, backoff_seconds, sign
from analytics.models import AlertFiring, AlertRule
from ingest import tasks as ingest_tasks
from tenants.models import Role

from . import alerts_support
from .alerts_support import admin, history, ingest, relay, rule_create

alert_settings, receiver = alerts_support.alert_settings, alerts_support.receiver


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (README, "Alerts")."""
    timestamp = headers["X-AuditLog-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < tolerance
    return hmac.compare_digest(expected, headers["X-AuditLog-Signature"]) and fresh


def test_a_signed_webhook_with_the_events_as_an_auditor_sees_them(
    world, api, marker, receiver, alert_settings, django_capture_on_commit_callbacks
):
    hook = receiver()
    client = admin(world, api)
    rule = rule_create(client, name="Deletes", filters={"source": marker, "action": "DELETE"}, webhook_url=hook.url)
    event_id = ingest(world, api, source=marker, action="DELETE", changes={"before": {"plan": "pro"}, "after": None})
    relay(world.acme.tenant, django_capture_on_commit_callbacks)

    [request] = hook.requests
    assert request["path"] == "/hook" and request["headers"]["Content-Type"] == "application/json"
    assert verify(rule["webhook_secret"], request["headers"], request["body"])
    assert not verify("whsec_other", request["headers"], request["body"])
    assert not verify(rule["webhook_secret"], request["headers"], request["body"] + b" ")
    body = hook.json()
    assert body["type"] == "alert.fired" and body["tenant"] == "acme"
    assert body["rule"]["id"] == rule["id"] and body["rule"]["name"] == "Deletes"
    [event] = body["events"]
    assert event["id"] == event_id and event["action"] == "DELETE"
    assert event["changes"]["before"] == {"plan": "pro"}  # decrypted, as an Auditor reads it
    assert event == api(world.acme.tokens[Role.AUDITOR]).get(f"/api/v1/logs/{event_id}").json()
    [firing] = history(client, rule["id"])
    assert body["firing"]["id"] == firing["id"] and body["firing"]["match_count"] == 1
    [delivery] = firing["deliveries"]
    assert delivery["status"] == "delivered" and delivery["response_code"] == 200 and delivery["attempts"] == 1
    assert request["headers"]["X-AuditLog-Delivery"] == str(delivery["id"])


def test_server_errors_are_retried_with_backoff_and_every_attempt_is_logged(
    world, api, marker, receiver, alert_settings, django_capture_on_commit_callbacks
):
    hook = receiver(statuses=[500, 503])
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker}, webhook_url=hook.url)
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)

    assert len(hook.requests) == 3
    assert len({r["headers"]["X-AuditLog-Delivery"] for r in hook.requests}) == 1
    assert all(verify(rule["webhook_secret"], r["headers"], r["body"]) for r in hook.requests)
    [delivery] = history(client, rule["id"])[0]["deliveries"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3 and delivery["error"] == ""
    assert [a["response_code"] for a in delivery["log"]] == [500, 503, 200]
    assert [a["error"] for a in delivery["log"]] == ["HTTP 500", "HTTP 503", ""]
    alert_settings(ALERT_RETRY_BASE_SECONDS=10)
    assert [backoff_seconds(n) for n in (1, 2, 3, 20)] == [10, 20, 40, 3600]


def test_a_delivery_fails_after_the_last_attempt(
    world, api, marker, receiver, alert_settings, django_capture_on_commit_callbacks
):
    alert_settings(ALERT_DELIVERY_MAX_ATTEMPTS=3)
    hook = receiver(statuses=[500] * 10)
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker}, webhook_url=hook.url)
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert len(hook.requests) == 3
    [delivery] = history(client, rule["id"])[0]["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 3 and delivery["next_attempt_at"] is None
    assert delivery["response_code"] == 500


def test_timeouts_are_retried(world, api, marker, receiver, alert_settings, django_capture_on_commit_callbacks):
    alert_settings(ALERT_DELIVERY_MAX_ATTEMPTS=2, ALERT_WEBHOOK_TIMEOUT_SECONDS=0.3)
    hook = receiver(delay=1.0)
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker}, webhook_url=hook.url)
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    [delivery] = history(client, rule["id"])[0]["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 2
    assert all("timed out" in a["error"] for a in delivery["log"]), delivery["log"]


@pytest.mark.parametrize("status", [400, 404, 301])
def test_client_errors_and_redirects_are_not_retried(
    world, api, marker, receiver, alert_settings, django_capture_on_commit_callbacks, status
):
    hook = receiver(statuses=[status])
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker}, webhook_url=hook.url)
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert len(hook.requests) == 1
    [delivery] = history(client, rule["id"])[0]["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 1 and delivery["response_code"] == status


def test_a_webhook_resolving_to_a_private_address_is_refused_at_delivery(
    world, api, marker, receiver, alert_settings, django_capture_on_commit_callbacks
):
    hook = receiver()
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker}, webhook_url=hook.url)
    alert_settings(ALERT_WEBHOOK_ALLOW_PRIVATE=False)
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert hook.requests == []
    [delivery] = history(client, rule["id"])[0]["deliveries"]
    assert delivery["status"] == "failed" and "private address" in delivery["error"]


def test_a_rule_with_webhook_and_email_gets_a_delivery_per_channel(
    world, api, marker, receiver, alert_settings, django_capture_on_commit_callbacks, mailoutbox
):
    hook = receiver()
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker}, webhook_url=hook.url, emails=["a@acme.test"])
    alert_settings(ALERT_EVENTS_PER_FIRING=2)
    for _ in range(5):
        ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    [firing] = history(client, rule["id"])
    assert sorted(d["channel"] for d in firing["deliveries"]) == ["email", "webhook"]
    assert all(d["status"] == "delivered" for d in firing["deliveries"])
    body = hook.json()
    assert len(body["events"]) == 2 and body["events_omitted"] == 3 and firing["match_count"] == 5
    assert len(mailoutbox) == 1 and "3 more" in mailoutbox[0].body


def test_signature_helper_matches_the_documented_recipe():
    assert sign("k", "1", b"{}") == "sha256=" + hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest()


@pytest.fixture
def acme_rule_committed(committed_world, django_db_blocker):
    """A rule committed in acme's schema, removed with its history afterwards."""
    made = []

    def make(**fields):
        with django_db_blocker.unblock():
            connection.set_tenant(committed_world.acme.tenant)
            made.append(AlertRule.objects.create(name="committed", **fields))
            connection.set_schema_to_public()
        return made[-1]

    yield make
    with django_db_blocker.unblock():
        connection.set_tenant(committed_world.acme.tenant)
        AlertRule.objects.filter(pk__in=[r.pk for r in made]).delete()
        connection.set_schema_to_public()


def test_from_commit_to_the_receiver_through_the_relay(
    committed_world, api, marker, receiver, alert_settings, acme_rule_committed, django_db_blocker
):
    """No test transaction: the ingest commit kicks the relay, whose commit queues the delivery (tasks eager)."""
    hook = receiver()
    rule = acme_rule_committed(filters={"source": marker}, webhook_url=hook.url, webhook_secret="whsec_test")
    ingest_tasks._last_kick.clear()
    get_redis_connection("default").delete(f"auditlog:relay-pending:{committed_world.acme.tenant.schema_name}")
    started = time.monotonic()
    with django_db_blocker.unblock():
        event_id = ingest(committed_world, api, source=marker, action="LOGIN")
    deadline = time.monotonic() + 10
    while not hook.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hook.requests, "no webhook within 10 s of commit"
    elapsed = time.monotonic() - started
    request = hook.requests[0]
    assert verify("whsec_test", request["headers"], request["body"])
    assert [e["id"] for e in json.loads(request["body"])["events"]] == [event_id]
    assert elapsed < 5
    with django_db_blocker.unblock():
        connection.set_tenant(committed_world.acme.tenant)
        firing = AlertFiring.objects.get(rule=rule)
        assert firing.deliveries.get().status == "delivered"
        connection.set_schema_to_public()


def test_the_sweep_sends_deliveries_whose_task_was_lost(world, api, receiver, alert_settings):
    hook = receiver()
    client = admin(world, api)
    rule = rule_create(client, webhook_url=hook.url)
    connection.set_tenant(world.acme.tenant)
    firing = AlertFiring.objects.create(rule_id=rule["id"], condition="every", match_count=0)
    five_minutes_ago = timezone.now() - timedelta(minutes=5)
    overdue = firing.deliveries.create(channel="webhook", target=hook.url, next_attempt_at=five_minutes_ago)
    firing.deliveries.create(channel="webhook", target=hook.url, next_attempt_at=timezone.now())  # still queued
    connection.set_schema_to_public()
    alert_deliveries_due_all_tenants()
    assert [r["headers"]["X-AuditLog-Delivery"] for r in hook.requests] == [str(overdue.pk)]
    statuses = {d["id"]: d["status"] for d in history(client, rule["id"])[0]["deliveries"]}
    assert statuses == {overdue.pk: "delivered", overdue.pk + 1: "pending"}


def test_an_unexpected_error_is_logged_on_the_delivery_and_retried(world, api, alert_settings):
    alert_settings(ALERT_DELIVERY_MAX_ATTEMPTS=2)
    client = admin(world, api)
    rule = rule_create(client, webhook_url="https://hooks.example.com/x")
    connection.set_tenant(world.acme.tenant)
    firing = AlertFiring.objects.create(rule_id=rule["id"], condition="every", match_count=0)
    delivery = firing.deliveries.create(channel="webhook", target="http://[::1/x")  # no longer a URL
    alert_deliver(delivery.pk)
    connection.set_schema_to_public()
    [logged] = history(client, rule["id"])[0]["deliveries"]
    assert logged["status"] == "failed" and logged["attempts"] == 2
    assert all(a["error"].startswith("ValueError") for a in logged["log"])
