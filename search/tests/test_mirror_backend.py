"""Which backend serves reads: Postgres without a URL or with a sick cluster, else the mirror; /readyz tells."""

from datetime import datetime
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection

from conftest import event_body
from ingest.relay import relay_drain
from search.mirror.cluster import MirrorOff, es_client, mirror_health_forget, mirror_healthy
from search.mirror.query import epoch_nanos

URL = "/api/v1/logs"
ALIAS = "auditlog-t_acme"


@pytest.fixture
def three_events(world, api, marker):
    """Three acme events (newest last in the list), stored in Postgres and not yet relayed."""
    events = [
        event_body(source=marker, message=message, occurred_at=f"2026-11-01T12:0{minute}:00.00012{minute}+00:00")
        for minute, message in enumerate(["first", "second", "third"])
    ]
    response = api(world.acme.keys["ingest"]).post(f"{URL}/bulk", {"events": events}, format="json")
    assert response.status_code == 201
    return response.json()["ids"]


def relay(world) -> None:
    connection.set_tenant(world.acme.tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()


def listed(api, world, marker, **params) -> dict:
    response = api(world.acme.keys["read"]).get(URL, {"source": marker, **params})
    assert response.status_code == 200, response.content
    return response.json()


def searches(es) -> list:
    return es.calls("POST", f"/{ALIAS}/_search")


def test_without_a_url_reads_never_reach_the_cluster(world, api, marker, three_events, es, settings, client):
    settings.ELASTICSEARCH_URL = ""
    assert len(listed(api, world, marker)["results"]) == 3
    assert api(world.acme.keys["read"]).get(f"{URL}/{three_events[0]}").status_code == 200
    assert client.get("/readyz").json()["mirror"] == {"enabled": False}
    assert es.requests == []


def test_an_unreachable_cluster_leaves_reads_to_postgres(world, api, marker, three_events, settings, client):
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"
    mirror_health_forget()
    assert [e["message"] for e in listed(api, world, marker)["results"]] == ["third", "second", "first"]
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["mirror"] == {"enabled": True, "healthy": False}
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_a_healthy_mirror_serves_the_list_as_postgres_would(world, api, marker, three_events, es, settings, client):
    relay(world)
    from_mirror = listed(api, world, marker)
    assert len(searches(es)) == 1
    settings.ELASTICSEARCH_URL = ""
    assert from_mirror == listed(api, world, marker)
    settings.ELASTICSEARCH_URL = es.url
    assert client.get("/readyz").json()["mirror"] == {"enabled": True, "healthy": True}


def test_the_answer_really_comes_from_the_mirror(world, api, marker, three_events, es):
    relay(world)
    es.docs(ALIAS)[three_events[0]]["message"] = "as the mirror has it"
    assert "as the mirror has it" in [e["message"] for e in listed(api, world, marker)["results"]]
    detail = api(world.acme.keys["read"]).get(f"{URL}/{three_events[0]}").json()
    assert detail["message"] == "as the mirror has it"


def test_the_next_page_asks_the_mirror_for_what_follows_the_last_event(world, api, marker, three_events, es):
    relay(world)
    page = listed(api, world, marker, limit=2)
    last = page["results"][-1]
    api(world.acme.keys["read"]).get(page["next"])
    second = searches(es)[-1].body
    assert second["search_after"] == [epoch_nanos(datetime.fromisoformat(last["occurred_at"])), last["id"]]
    assert parse_qs(urlparse(page["next"]).query)["limit"] == ["2"]


def test_an_event_not_relayed_yet_is_found_in_postgres(world, api, marker, three_events, es):
    relay(world)
    late = api(world.acme.keys["ingest"]).post(
        URL, {"actor": {"id": "bob"}, "action": "READ", "resource": {"type": "doc"}}, format="json"
    )
    detail = api(world.acme.keys["read"]).get(f"{URL}/{late.json()['id']}")
    assert detail.status_code == 200 and detail.json()["actor"] == {"id": "bob", "type": "user"}
    assert es.calls("GET", f"/{ALIAS}/_doc/{late.json()['id']}")
    assert api(world.acme.keys["read"]).get(f"{URL}/00000000-0000-7000-8000-000000000000").status_code == 404


def test_health_is_probed_once_per_ttl(world, api, marker, three_events, es, settings):
    relay(world)
    listed(api, world, marker)
    listed(api, world, marker)
    assert len(es.calls("GET", "/_cluster/health")) == 1
    settings.ELASTICSEARCH_HEALTH_TTL = 0
    listed(api, world, marker)
    assert len(es.calls("GET", "/_cluster/health")) == 2


def test_a_red_cluster_is_not_read(world, api, marker, three_events, es, client):
    relay(world)
    es.health = "red"
    assert len(listed(api, world, marker)["results"]) == 3
    assert searches(es) == []
    assert client.get("/readyz").json()["mirror"] == {"enabled": True, "healthy": False}


def test_a_failing_search_falls_back_and_marks_the_cluster_unhealthy(world, api, marker, three_events, es):
    relay(world)
    es.read_status = 500
    assert len(listed(api, world, marker)["results"]) == 3
    assert len(listed(api, world, marker)["results"]) == 3
    assert len(searches(es)) == 1  # the second read did not try the mirror again


def test_a_tenant_without_an_index_is_read_from_postgres_without_blaming_the_cluster(
    world, api, marker, three_events, es
):
    assert len(listed(api, world, marker)["results"]) == 3
    assert len(listed(api, world, marker)["results"]) == 3
    assert len(searches(es)) == 2


def test_a_refused_search_falls_back_without_blaming_the_cluster(world, api, marker, three_events, es):
    relay(world)
    es.read_status = 400
    assert len(listed(api, world, marker)["results"]) == 3
    assert len(listed(api, world, marker)["results"]) == 3
    assert len(searches(es)) == 2


def test_a_slow_search_is_answered_by_postgres(world, api, marker, three_events, es, settings):
    relay(world)
    settings.ELASTICSEARCH_SEARCH_TIMEOUT = 0.2
    es.read_delay = 1.0
    assert [e["message"] for e in listed(api, world, marker)["results"]] == ["third", "second", "first"]
    listed(api, world, marker)
    assert len(searches(es)) == 1  # timed out once, then Postgres until the next probe


def test_partial_results_are_not_served(world, api, marker, three_events, es):
    relay(world)
    es.shards_failed = 1
    assert [e["message"] for e in listed(api, world, marker)["results"]] == ["third", "second", "first"]
    assert len(searches(es)) == 1
    listed(api, world, marker)
    assert len(searches(es)) == 1  # marked unhealthy: Postgres until the next probe


def test_a_failing_detail_read_falls_back_to_postgres(world, api, marker, three_events, es):
    relay(world)
    es.docs(ALIAS)[three_events[0]]["message"] = "as the mirror has it"
    es.read_status = 503
    detail = api(world.acme.keys["read"]).get(f"{URL}/{three_events[0]}")
    assert detail.status_code == 200 and detail.json()["message"] == "first"


def test_the_client_refuses_to_work_when_the_mirror_is_off(mirror_off):
    with pytest.raises(MirrorOff, match="set ELASTICSEARCH_URL"):
        es_client()
    assert mirror_healthy() is False
