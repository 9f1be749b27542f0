"""Evaluating rules from the relay: `every` and `threshold`, muting, disabled rules, tenant isolation, email."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from analytics.alerts.evaluation import alerts_relay_handler
from analytics.models import AlertFiring, AlertRule
from ingest.models import Event

from . import alerts_support
from .alerts_support import admin, history, ingest, relay, rule_create

alert_settings = alerts_support.alert_settings

pytestmark = pytest.mark.usefixtures("alert_settings")


def firings(tenant) -> list[AlertFiring]:
    connection.set_tenant(tenant)
    try:
        return list(AlertFiring.objects.order_by("id").prefetch_related("deliveries"))
    finally:
        connection.set_schema_to_public()


def test_every_fires_once_per_batch_with_the_matching_events_and_emails(
    world, api, marker, django_capture_on_commit_callbacks
):
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker, "action": "LOGIN"}, emails=["sec@acme.test", "b@acme.test"])
    matching = [ingest(world, api, source=marker, action="LOGIN") for _ in range(2)]
    ingest(world, api, source=marker, action="LOGOUT")
    ingest(world, api, source=marker + "-other", action="LOGIN")
    mail.outbox.clear()
    relay(world.acme.tenant, django_capture_on_commit_callbacks)

    [firing] = firings(world.acme.tenant)
    assert firing.rule_id == rule["id"] and firing.match_count == 2
    assert sorted(map(str, firing.event_ids)) == sorted(matching)
    [delivery] = firing.deliveries.all()
    assert delivery.channel == "email" and delivery.status == "delivered" and delivery.attempts == 1
    [message] = mail.outbox
    assert message.to == ["sec@acme.test", "b@acme.test"] and "rule" in message.subject
    assert all(event_id in message.body for event_id in matching)

    # The next batch fires again, for its own events only.
    third = ingest(world, api, source=marker, action="LOGIN")
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    newest = history(client, rule["id"])[0]
    assert newest["event_ids"] == [third] and newest["deliveries"][0]["status"] == "delivered"
    assert len(mail.outbox) == 2


def test_a_batch_handed_over_again_fires_nothing_twice(world, api, marker, django_capture_on_commit_callbacks):
    rule_create(admin(world, api), filters={"source": marker}, emails=["a@acme.test"])
    ids = [ingest(world, api, source=marker) for _ in range(3)]
    connection.set_tenant(world.acme.tenant)
    events = list(Event.objects.filter(source=marker))
    alerts_relay_handler(events)
    alerts_relay_handler(events)  # the relay may hand a batch over again
    alerts_relay_handler(events[:1])
    assert AlertFiring.objects.count() == 1 and sorted(map(str, AlertFiring.objects.get().event_ids)) == sorted(ids)
    connection.set_schema_to_public()


def test_threshold_fires_once_per_window_then_re_arms(world, api, marker, django_capture_on_commit_callbacks):
    client = admin(world, api)
    rule = rule_create(
        client, filters={"source": marker, "action": "LOGIN"}, condition="threshold", threshold_count=3,
        window_seconds=60, emails=["sec@acme.test"],
    )  # fmt: skip
    old = (timezone.now() - timedelta(minutes=10)).isoformat()
    for _ in range(3):  # backfilled events, outside the window: they do not count
        ingest(world, api, source=marker, action="LOGIN", occurred_at=old)
    ingest(world, api, source=marker, action="LOGIN")
    ingest(world, api, source=marker, action="LOGOUT")  # not matching
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert firings(world.acme.tenant) == []

    ingest(world, api, source=marker, action="LOGIN")
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert firings(world.acme.tenant) == []  # 2 of 3

    third = ingest(world, api, source=marker, action="LOGIN")
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    [firing] = firings(world.acme.tenant)
    assert firing.match_count == 3 and str(firing.event_ids[-1]) == third
    assert firing.window_end - firing.window_start == timedelta(seconds=60)
    assert [d.status for d in firing.deliveries.all()] == ["delivered"]

    for _ in range(4):  # further matches within the window: quiet
        ingest(world, api, source=marker, action="LOGIN")
        relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert len(firings(world.acme.tenant)) == 1

    # A window after the firing, the rule is armed again.
    connection.set_tenant(world.acme.tenant)
    AlertFiring.objects.update(fired_at=timezone.now() - timedelta(seconds=61))
    connection.set_schema_to_public()
    ingest(world, api, source=marker, action="LOGIN")
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert [f["condition"] for f in history(client, rule["id"])] == ["threshold", "threshold"]


def test_muted_rules_record_muted_firings_and_send_nothing(world, api, marker, django_capture_on_commit_callbacks):
    client = admin(world, api)
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    rule = rule_create(client, filters={"source": marker}, emails=["a@acme.test"], muted_until=until)
    assert rule["muted"] is True
    mail.outbox.clear()
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    [muted] = history(client, rule["id"])
    assert muted["muted"] is True and muted["deliveries"] == [] and mail.outbox == []

    assert client.patch(f"/api/v1/alerts/{rule['id']}", {"muted_until": None}, format="json").json()["muted"] is False
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    newest = history(client, rule["id"])[0]
    assert newest["muted"] is False and newest["deliveries"][0]["status"] == "delivered" and len(mail.outbox) == 1


def test_disabled_rules_are_not_evaluated(world, api, marker, django_capture_on_commit_callbacks):
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker}, emails=["a@acme.test"], enabled=False)
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert history(client, rule["id"]) == []


def test_an_edited_filter_applies_to_the_next_batch(world, api, marker, django_capture_on_commit_callbacks):
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker, "action": "LOGIN"}, emails=["a@acme.test"])
    ingest(world, api, source=marker, action="DELETE")
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert history(client, rule["id"]) == []
    client.patch(f"/api/v1/alerts/{rule['id']}", {"filters": {"source": marker, "action": "DELETE"}}, format="json")
    ingest(world, api, source=marker, action="DELETE")
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    assert len(history(client, rule["id"])) == 1


def test_another_tenants_events_never_fire_acmes_rules(world, api, marker, django_capture_on_commit_callbacks):
    acme_rule = rule_create(admin(world, api), filters={"source": marker}, emails=["a@acme.test"])
    globex_rule = rule_create(
        admin(world, api, world.globex), filters={"source": marker}, condition="threshold", threshold_count=1,
        window_seconds=600, emails=["g@globex.test"],
    )  # fmt: skip
    mail.outbox.clear()
    for _ in range(3):
        ingest(world, api, world.globex, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    relay(world.globex.tenant, django_capture_on_commit_callbacks)
    assert history(admin(world, api), acme_rule["id"]) == []
    [fired] = history(admin(world, api, world.globex), globex_rule["id"])
    assert fired["match_count"] == 3 and [m.to for m in mail.outbox] == [["g@globex.test"]]

    # acme's events fire acme's rule only; the threshold of globex's rule counts none of them.
    ingest(world, api, source=marker)
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    relay(world.globex.tenant, django_capture_on_commit_callbacks)
    assert len(history(admin(world, api), acme_rule["id"])) == 1
    assert len(history(admin(world, api, world.globex), globex_rule["id"])) == 1
    connection.set_tenant(world.globex.tenant)
    assert AlertRule.objects.count() == 1
    connection.set_schema_to_public()


def test_rules_on_the_metadata_and_full_text_match_as_the_list_does(
    world, api, marker, django_capture_on_commit_callbacks
):
    client = admin(world, api)
    rule = rule_create(client, filters={"source": marker, "metadata.outcome": "failure", "q": "password"},
                       emails=["a@acme.test"])  # fmt: skip
    hit = ingest(world, api, source=marker, metadata={"outcome": "failure"}, message="wrong password given")
    ingest(world, api, source=marker, metadata={"outcome": "success"}, message="wrong password given")
    ingest(world, api, source=marker, metadata={"outcome": "failure"}, message="locked out")
    relay(world.acme.tenant, django_capture_on_commit_callbacks)
    [firing] = history(client, rule["id"])
    assert firing["event_ids"] == [hit]
    listed = api(world.acme.tokens["AUDITOR"]).get("/api/v1/logs", rule["filters"]).json()["results"]
    assert [e["id"] for e in listed] == [hit]
