"""The relay's side of the mirror: documents built from real events, bulk upserts, retries, idempotency."""

import json

import pytest
from django.db import connection

from auditlog.renderers import FastJSONRenderer
from ingest.models import Event, OutboxEntry
from ingest.relay import outbox_handlers, relay_drain
from search.audience import FULL, RESTRICTED, event_view
from search.mirror.documents import build_documents, document_source, event_from_source
from search.mirror.indexing import RELAY_HANDLER_NAME, MirrorWriteFailed, mirror_relay_handler
from tenants.models import Role

URL = "/api/v1/logs"

FULL_EVENT = {
    "occurred_at": "2026-11-02T10:00:00.123456+00:00",
    "actor": {"id": "alice", "type": "user", "name": "Alice", "email": "alice@acme.test", "session_id": "s-9"},
    "action": "UPDATE",
    "resource": {"type": "order", "id": "o-7", "name": "Order 7"},
    "severity": "WARNING",
    "message": "Changed the shipping address",
    "context": {"ip": "2001:db8::7", "user_agent": "curl/8", "request_id": "req-9", "correlation_id": "corr-9"},
    "changes": {"before": {"city": "Paris"}, "after": {"city": "Lyon"}},
    "metadata": {"plan": {"tier": "gold"}, "seats": 3, "trial": False, "ratio": 2.0, "list": ["x"], "note": None},
    "tags": ["billing", "eu"],
}


def post(api, world, marker, body=FULL_EVENT) -> str:
    response = api(world.acme.keys["ingest"]).post(URL, {**body, "source": marker}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def stored(world, event_id) -> Event:
    connection.set_tenant(world.acme.tenant)
    try:
        return Event.objects.get(id=event_id)
    finally:
        connection.set_schema_to_public()


def relay(world) -> int:
    connection.set_tenant(world.acme.tenant)
    try:
        return relay_drain()
    finally:
        connection.set_schema_to_public()


def test_the_handler_is_registered_with_the_relay():
    assert outbox_handlers()[RELAY_HANDLER_NAME] is mirror_relay_handler


def test_document_has_every_event_field_and_the_derived_ones(world, api, marker):
    event = stored(world, post(api, world, marker))
    action, source = build_documents([event])
    assert action == {"index": {"_id": str(event.id)}}
    assert set(source) == {f.attname for f in Event._meta.concrete_fields} | {"metadata_terms", "metadata_text"}
    assert source["id"] == str(event.id)
    assert source["occurred_at"] == "2026-11-02T10:00:00.123456+00:00"
    assert source["ip"] == "2001:db8::7" and source["source"] == marker
    assert source["changed_fields"] == ["city"] and source["tags"] == ["billing", "eu"]
    assert sorted(source["metadata_terms"]) == [
        "b:trial=false",
        "n:ratio=2",
        "n:seats=3",
        "s:plan.tier=gold",
    ]
    assert sorted(source["metadata_text"]) == ["2.0", "3", "gold", "x"]


def test_an_event_read_back_from_its_document_renders_as_the_api_does(world, api, marker):
    """Also its encrypted content (the document carries the ciphertext): decrypted or masked by audience."""
    event_id = post(api, world, marker)
    source = json.loads(json.dumps(document_source(stored(world, event_id))))  # as it travels
    for role, audience in ((Role.USER, RESTRICTED), (Role.AUDITOR, FULL)):
        detail = api(world.acme.tokens[role]).get(f"{URL}/{event_id}").json()
        connection.set_tenant(world.acme.tenant)
        try:
            shown = event_view(event_from_source(source), audience)
        finally:
            connection.set_schema_to_public()
        assert json.loads(FastJSONRenderer().render(shown)) == detail
    assert detail["changes"] == FULL_EVENT["changes"]


def test_the_same_event_twice_gives_the_same_operation(world, api, marker):
    event = stored(world, post(api, world, marker))
    assert build_documents([event]) == build_documents([stored(world, event.id)])


def test_handler_does_nothing_when_the_mirror_is_off(world, api, marker, mirror_off, django_assert_num_queries):
    event = stored(world, post(api, world, marker))
    with django_assert_num_queries(0):
        mirror_relay_handler([event])


def test_relay_bulk_upserts_into_the_tenants_alias(world, api, marker, es):
    ids = {post(api, world, marker), post(api, world, marker, {**FULL_EVENT, "message": "second"})}
    assert relay(world) == 2
    (bulk,) = es.calls("PUT", "/auditlog-t_acme/_bulk")
    assert bulk.params["require_alias"] == "true"
    assert {line["index"]["_id"] for line in bulk.body[::2]} == ids
    assert set(es.docs("auditlog-t_acme")) == ids
    assert es.aliases == {"auditlog-t_acme": "auditlog-t_acme-v1"}


def test_the_alias_is_checked_once_per_process(world, api, marker, es):
    post(api, world, marker)
    relay(world)
    post(api, world, marker)
    relay(world)
    assert len(es.calls("HEAD", "/_alias/auditlog-t_acme")) == 1
    assert len(es.calls("PUT", "/auditlog-t_acme-v1")) == 1
    assert len(es.docs("auditlog-t_acme")) == 2


def test_relaying_a_batch_again_changes_nothing(world, api, marker, es):
    event = stored(world, post(api, world, marker))
    relay(world)
    first = dict(es.docs("auditlog-t_acme"))
    connection.set_tenant(world.acme.tenant)
    try:
        mirror_relay_handler([event])
    finally:
        connection.set_schema_to_public()
    assert es.docs("auditlog-t_acme") == first


def test_a_refused_document_fails_the_batch_and_the_relay_keeps_it(world, api, marker, es):
    good, bad = post(api, world, marker), post(api, world, marker)
    es.fail_ids = {bad}
    with pytest.raises(MirrorWriteFailed, match=f"1 of 2 documents were not indexed.*{bad}"):
        relay(world)
    connection.set_tenant(world.acme.tenant)
    try:
        assert set(OutboxEntry.objects.values_list("event_id", flat=True).iterator()) >= {
            stored(world, good).id,
            stored(world, bad).id,
        }
    finally:
        connection.set_schema_to_public()
    es.fail_ids = set()
    assert relay(world) == 2
    assert {good, bad} <= set(es.docs("auditlog-t_acme"))


def test_a_vanished_alias_is_an_error_not_a_guessed_index(world, api, marker, es):
    post(api, world, marker)
    relay(world)
    es.aliases.clear()
    es.indices.clear()
    post(api, world, marker)
    with pytest.raises(MirrorWriteFailed, match="is not an alias"):
        relay(world)
    assert es.indices == {}
    assert relay(world) == 1  # checked again after the failure: created anew
    assert es.aliases == {"auditlog-t_acme": "auditlog-t_acme-v1"}


def test_each_tenant_writes_to_its_own_alias(world, api, marker, es):
    api(world.globex.keys["ingest"]).post(URL, {**FULL_EVENT, "source": marker}, format="json")
    connection.set_tenant(world.globex.tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()
    assert set(es.aliases) == {"auditlog-t_globex"}
    assert all(doc["source"] == marker for doc in es.docs("auditlog-t_globex").values())


def test_deleting_a_tenant_drops_its_mirror_indices_and_no_one_elses(world, api, marker, es):
    """tenants.services.tenant_delete runs the mirror's hook: the deleted tenant's documents leave the cluster."""
    import uuid

    from conftest import PASSWORD
    from tenants.services import api_key_create, tenant_create, tenant_delete

    slug = f"gone-{uuid.uuid4().hex[:8]}"
    gone = tenant_create(
        slug=slug, name="Gone", admin={"username": f"{slug}-admin", "email": f"a@{slug}.test", "password": PASSWORD}
    )
    connection.set_schema_to_public()
    key = api_key_create(tenant=gone, name="ingest", scopes=["ingest"])[1]
    assert api(key).post(URL, {**FULL_EVENT, "source": marker}, format="json").status_code == 201
    post(api, world, marker)
    for tenant in (gone, world.acme.tenant):
        connection.set_tenant(tenant)
        relay_drain()
    connection.set_schema_to_public()
    assert set(es.aliases) == {f"auditlog-{gone.schema_name}", "auditlog-t_acme"}

    tenant_delete(tenant=gone)
    assert set(es.aliases) == {"auditlog-t_acme"} and f"auditlog-{gone.schema_name}-v1" not in es.indices
    assert len(es.docs("auditlog-t_acme")) == 1
