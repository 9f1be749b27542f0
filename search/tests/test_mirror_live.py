"""Against a real Elasticsearch (ELASTICSEARCH_URL set): the mirror answers every filter as Postgres does.

Skipped without ELASTICSEARCH_URL. Each test writes under an index prefix of its own and
deletes its indices afterwards, so it can run against a shared cluster.
"""

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import QueryDict

from conftest import event_body
from ingest.relay import relay_drain
from search.backends import postgres
from search.filters import parse_filters
from search.mirror import backend as mirror
from search.mirror.cluster import es_client, mirror_health_forget, mirror_healthy
from search.mirror.indices import alias_name, index_current, index_ensure
from search.mirror.mapping import index_mappings

LIVE_URL = os.environ.get("ELASTICSEARCH_URL", "")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE_URL, reason="ELASTICSEARCH_URL is not set: no Elasticsearch to test against"),
]
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def live(settings):
    prefix = f"auditlog-test-{uuid.uuid4().hex[:10]}"
    settings.ELASTICSEARCH_URL = LIVE_URL
    settings.ELASTICSEARCH_INDEX_PREFIX = prefix
    mirror_health_forget()
    client = es_client()
    yield client
    names = list(client.indices.get(index=f"{prefix}-*", expand_wildcards="all").body)
    if names:
        client.indices.delete(index=",".join(names))
    mirror_health_forget()


@pytest.fixture
def dataset(world, api, marker, live):
    m = marker
    same_time = at(30)
    events = [
        event_body(
            source=m,
            occurred_at=at(0),
            actor={"id": "alice", "session_id": "s-1"},
            action="LOGIN",
            resource={"type": "session"},
            message="Alice signed in from Paris",
            context={"ip": "10.1.2.3", "request_id": "req-1", "correlation_id": "corr-1"},
        ),
        event_body(
            source=m,
            occurred_at=at(1.000001),
            actor={"id": "alice"},
            severity="WARNING",
            tags=["billing", "eu"],
            metadata={"region": "eu", "plan": {"tier": "gold"}, "count": 3, "flag": True},
            context={"correlation_id": "corr-1"},
        ),
        event_body(
            source=m,
            occurred_at=at(2),
            actor={"id": "bob"},
            action="DELETE",
            severity="CRITICAL",
            resource={"type": "order", "id": "o-2"},
            message="Order purged by svc-1",
            context={"ip": "2001:db8::5"},
        ),
        event_body(
            source=m,
            occurred_at=at(3),
            actor={"id": "svc-1", "type": "service"},
            action="EXPORT",
            resource={"type": "report"},
            metadata={"region": "us", "note": "quarterly ledger", "count": 3.0},
            tags=["eu"],
        ),
        event_body(source=m, occurred_at=at(4), metadata={"count": "3", "plan": [{"tier": "gold"}]}),
        *[
            event_body(
                source=m,
                occurred_at=same_time,
                actor={"id": "carol"},
                action="READ",
                resource={"type": "doc", "id": f"d-{i}"},
            )
            for i in range(7)
        ],
    ]
    assert (
        api(world.acme.keys["ingest"]).post("/api/v1/logs/bulk", {"events": events}, format="json").status_code == 201
    )
    decoy = event_body(source=m, occurred_at=at(5), actor={"id": "alice"}, action="LOGIN", message="Alice at globex")
    assert api(world.globex.keys["ingest"]).post("/api/v1/logs", decoy, format="json").status_code == 201
    for tenant in (world.acme.tenant, world.globex.tenant):
        connection.set_tenant(tenant)
        relay_drain()
        live.indices.refresh(index=alias_name(tenant.schema_name))
    connection.set_tenant(world.acme.tenant)
    yield m
    connection.set_schema_to_public()


QUERIES = [
    "",
    "actor_id=alice",
    "actor_id=alice,bob",
    "actor_type=service",
    "action=login,delete",
    "resource_type=order",
    "resource_id=d-3",
    "severity=warning,CRITICAL",
    "correlation_id=corr-1",
    "request_id=req-1",
    "session_id=s-1",
    "ip=10.1.2.3",
    "ip=10.0.0.0/8",
    "ip=2001:db8::/32",
    "ip=10.1.2.3,2001:db8::5",
    "tag=eu",
    "tag=billing,nope",
    "q=alice paris",
    "q=purged",
    "q=quarterly",
    "q=gold",
    'q="signed in" -bob',
    "q=svc-1",
    "q=alice or ledger",
    "q=-alice",
    "q=***",
    "metadata.region=eu",
    "metadata.plan.tier=gold",
    "metadata.count=3",
    "metadata.count=3.0",
    "metadata.flag=true",
    "metadata.region=mars",
    f"from={at(2)}&to={at(30)}".replace("+", "%2B"),
    f"from={at(1.000001)}".replace("+", "%2B"),
    f"to={at(1.000001)}".replace("+", "%2B"),
]


def ids(rows) -> list[str]:
    return [str(e.id) for e in rows]


@pytest.mark.parametrize("query", QUERIES)
def test_every_filter_answers_as_postgres_does(dataset, query):
    f = parse_filters(QueryDict(f"source={dataset}&{query}"))[0]
    assert ids(mirror.page(f, limit=100)) == ids(postgres.page(f, limit=100))


def test_pages_follow_the_same_keyset(dataset):
    f = parse_filters(QueryDict(f"source={dataset}"))[0]
    seen, after = {"mirror": [], "postgres": []}, {"mirror": None, "postgres": None}
    for name, backend in (("mirror", mirror), ("postgres", postgres)):
        for _ in range(10):
            rows = backend.page(f, after=after[name], limit=3)
            seen[name] += ids(rows[:3])
            if len(rows) <= 3:
                break
            after[name] = (rows[2].occurred_at, rows[2].id)
    assert seen["mirror"] == seen["postgres"] and len(seen["mirror"]) == 12


def fields_of(event) -> dict:
    return {f.attname: getattr(event, f.attname) for f in event._meta.concrete_fields}


def test_detail_is_the_same_event_and_other_tenants_see_nothing(world, dataset):
    f = parse_filters(QueryDict(f"source={dataset}"))[0]
    events = postgres.page(f, limit=100)
    for event in events:
        assert fields_of(mirror.get(event.id)) == fields_of(event)
    connection.set_tenant(world.globex.tenant)
    assert [mirror.get(e.id) for e in events] == [None] * len(events)
    assert [e.message for e in mirror.page(f, limit=100)] == ["Alice at globex"]


def test_the_api_through_the_mirror_matches_postgres(world, api, dataset, settings, caplog):
    client = api(world.acme.keys["read"])
    connection.set_schema_to_public()
    assert mirror_healthy()
    for query in ("", "q=alice", "metadata.count=3", "tag=eu&limit=2"):
        settings.ELASTICSEARCH_URL = LIVE_URL
        from_mirror = client.get(f"/api/v1/logs?source={dataset}&{query}").json()
        settings.ELASTICSEARCH_URL = ""
        assert client.get(f"/api/v1/logs?source={dataset}&{query}").json() == from_mirror
    # Had a read fallen back to Postgres, the backend would have said so.
    assert not [r for r in caplog.records if r.name == "search.mirror.backend"]


def test_reindex_builds_v2_with_the_same_answers(world, dataset, live):
    connection.set_schema_to_public()
    call_command("search_reindex", "--tenant", "acme")
    connection.set_tenant(world.acme.tenant)
    assert index_current(world.acme.tenant.schema_name)[1] == 2
    assert not live.indices.exists(index=alias_name(world.acme.tenant.schema_name) + "-v1")
    for query in ("", "q=alice paris", "metadata.count=3", "ip=10.0.0.0/8"):
        f = parse_filters(QueryDict(f"source={dataset}&{query}"))[0]
        assert ids(mirror.page(f, limit=100)) == ids(postgres.page(f, limit=100))


def test_the_cluster_keeps_the_mapping_as_written(live):
    index_ensure("t_mappingcheck")
    stored = live.indices.get_mapping(index=alias_name("t_mappingcheck")).body
    (mapping,) = (m["mappings"] for m in stored.values())

    def without_object_type(properties: dict) -> dict:  # "type": "object" is implied, and may not be echoed
        return {k: {a: b for a, b in v.items() if (a, b) != ("type", "object")} for k, v in properties.items()}

    assert without_object_type(mapping["properties"]) == without_object_type(index_mappings()["properties"])
