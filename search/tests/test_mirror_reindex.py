"""manage.py search_reindex: a tenant's index rebuilt from Postgres into a new index, then the alias swapped."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from conftest import event_body
from ingest.models import Event
from ingest.relay import relay_drain

ALIAS = "auditlog-t_acme"


@pytest.fixture
def acme_ids(world, api, marker) -> set[str]:
    """Five acme events in Postgres; returns every acme event id (the test's transaction holds only these)."""
    events = [event_body(source=marker, message=f"event {i}") for i in range(5)]
    assert (
        api(world.acme.keys["ingest"]).post("/api/v1/logs/bulk", {"events": events}, format="json").status_code == 201
    )
    connection.set_tenant(world.acme.tenant)
    try:
        return {str(i) for i in Event.objects.values_list("id", flat=True)}
    finally:
        connection.set_schema_to_public()


def relay(tenant) -> None:
    connection.set_tenant(tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()


def reindex(*args) -> str:
    out = StringIO()
    call_command("search_reindex", *args, stdout=out)
    return out.getvalue()


def bulks(es, index: str) -> list:
    return es.calls("PUT", f"/{index}/_bulk")


def test_refused_when_the_mirror_is_off(world, mirror_off):
    with pytest.raises(CommandError, match="mirror is off: set ELASTICSEARCH_URL"):
        reindex()


def test_refused_for_an_unknown_tenant(world, es):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        reindex("--tenant", "nope")


def test_refused_for_a_batch_size_below_one(world, es):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        reindex("--batch-size", "0")


def test_rebuild_copies_postgres_into_a_new_index_and_swaps_the_alias(world, es, acme_ids):
    relay(world.acme.tenant)
    es.docs(ALIAS)["stale"] = {"id": "stale"}  # in the mirror, not in Postgres
    output = reindex("--tenant", "acme", "--batch-size", "2")
    assert output == f"acme: {len(acme_ids)} events into {ALIAS}-v2\n"
    assert es.aliases == {ALIAS: f"{ALIAS}-v2"}
    assert set(es.indices) == {f"{ALIAS}-v2"}
    assert set(es.docs(ALIAS)) == acme_ids
    (swap,) = es.calls("POST", "/_aliases")
    assert swap.body == {
        "actions": [
            {"add": {"index": f"{ALIAS}-v2", "alias": ALIAS, "is_write_index": True}},
            {"remove_index": {"index": f"{ALIAS}-v1"}},
        ]
    }
    assert not [r for r in es.requests if "globex" in r.path]


def test_batches_then_refresh_then_swap_then_catch_up(world, es, acme_ids):
    connection.set_tenant(world.acme.tenant)
    try:
        recent = Event.objects.order_by("id").last()
        Event.objects.exclude(id=recent.id).update(received_at=timezone.now() - timedelta(days=1))
    finally:
        connection.set_schema_to_public()
    reindex("--tenant", "acme", "--batch-size", "2")
    steps = [
        (r.method, r.path.rsplit("/", 1)[-1], len(r.body or []) // 2)
        for r in es.requests
        if r.path.startswith(f"/{ALIAS}-v2") or r.path == "/_aliases"
    ]
    assert steps == [
        ("DELETE", f"{ALIAS}-v2", 0),
        ("PUT", f"{ALIAS}-v2", 1),
        ("PUT", "_bulk", 2),
        ("PUT", "_bulk", 2),
        ("PUT", "_bulk", 1),
        ("POST", "_refresh", 0),
        ("POST", "_aliases", 0),
        ("PUT", "_bulk", 1),  # the catch-up: the one event received in the last minutes
        ("POST", "_refresh", 0),
    ]
    catch_up = bulks(es, f"{ALIAS}-v2")[-1]
    assert [line["index"]["_id"] for line in catch_up.body[::2]] == [str(recent.id)]
    assert all(b.params.get("require_alias") != "true" for b in bulks(es, f"{ALIAS}-v2"))


def test_every_tenant_is_rebuilt_without_a_tenant_option(world, api, es, acme_ids, marker):
    output = reindex()
    assert output.splitlines() == [
        f"acme: {len(acme_ids)} events into {ALIAS}-v2",
        "globex: 0 events into auditlog-t_globex-v2",
    ]
    assert es.aliases == {ALIAS: f"{ALIAS}-v2", "auditlog-t_globex": "auditlog-t_globex-v2"}


def test_a_leftover_of_an_interrupted_rebuild_is_started_again(world, es, acme_ids):
    relay(world.acme.tenant)
    es.indices[f"{ALIAS}-v2"] = {"docs": {"junk": {"id": "junk"}}, "mappings": {}, "settings": {}}
    reindex("--tenant", "acme")
    assert set(es.docs(ALIAS)) == acme_ids


def test_a_refused_document_stops_the_rebuild_before_the_swap(world, es, acme_ids):
    relay(world.acme.tenant)
    es.fail_ids = {sorted(acme_ids)[0]}
    with pytest.raises(CommandError, match=f"Rebuilding acme in Elasticsearch at {es.url} failed: 1 of 5"):
        reindex("--tenant", "acme")
    assert es.aliases == {ALIAS: f"{ALIAS}-v1"}
