"""The outbox and its relay, in process: one entry per stored event, drained in batches, retried on failure."""

import pytest
from django.db import connection

from conftest import event_body
from ingest.models import OutboxEntry
from ingest.relay import outbox_handler_register, outbox_handlers, outbox_lag, relay_drain


@pytest.fixture
def handler():
    """Register a recording handler for the test; `fail` makes its next calls raise."""
    seen, state = [], {"fail": 0}

    def record(events):
        if state["fail"]:
            state["fail"] -= 1
            raise RuntimeError("mirror down")
        seen.append([e.id for e in events])

    before = outbox_handlers()
    outbox_handler_register("test-recorder", record)
    yield seen, state
    from ingest import relay

    relay._HANDLERS.clear()
    relay._HANDLERS.update(before)


def post(api, world, n, marker):
    client = api(world.acme.keys["ingest"])
    ids = [client.post("/api/v1/logs", event_body(source=marker), format="json").json()["id"] for _ in range(n)]
    bulk = client.post("/api/v1/logs/bulk", {"events": [event_body(source=marker) for _ in range(n)]}, format="json")
    return ids + bulk.json()["ids"]


def test_every_stored_event_has_an_outbox_entry(world, api, marker):
    ids = post(api, world, 3, marker)
    connection.set_tenant(world.acme.tenant)
    assert {str(e) for e in OutboxEntry.objects.values_list("event_id", flat=True)} >= set(ids)
    connection.set_tenant(world.globex.tenant)
    assert not OutboxEntry.objects.filter(event_id__in=ids).exists()


def test_duplicates_get_no_second_entry(world, api, marker):
    import uuid

    body = event_body(event_id=str(uuid.uuid4()), source=marker)
    client = api(world.acme.keys["ingest"])
    client.post("/api/v1/logs", body, format="json")
    client.post("/api/v1/logs/bulk", {"events": [body, body]}, format="json")
    connection.set_tenant(world.acme.tenant)
    assert OutboxEntry.objects.filter(event_id=body["event_id"]).count() == 1


def test_relay_hands_every_event_to_handlers_in_batches_and_empties_the_outbox(world, api, marker, handler):
    seen, _ = handler
    ids = post(api, world, 4, marker)
    connection.set_tenant(world.acme.tenant)
    pending, oldest = outbox_lag()
    assert pending >= 8 and oldest is not None
    relayed = relay_drain(batch_size=3)
    assert relayed == pending
    assert all(len(batch) <= 3 for batch in seen)
    assert {str(i) for batch in seen for i in batch} >= set(ids)
    assert outbox_lag() == (0, None)


def test_a_failing_handler_keeps_the_batch_for_a_retry(world, api, marker, handler):
    seen, state = handler
    ids = post(api, world, 2, marker)
    connection.set_tenant(world.acme.tenant)
    pending = outbox_lag()[0]
    state["fail"] = 1
    with pytest.raises(RuntimeError):
        relay_drain()
    assert outbox_lag()[0] == pending and not seen
    assert relay_drain() == pending
    assert {str(i) for batch in seen for i in batch} >= set(ids)


def test_relay_stays_in_its_tenant(world, api, marker, handler):
    seen, _ = handler
    post(api, world, 2, marker)
    connection.set_tenant(world.globex.tenant)
    globex_pending = outbox_lag()[0]
    assert relay_drain() == globex_pending
    connection.set_tenant(world.acme.tenant)
    assert outbox_lag()[0] >= 4


def test_readyz_shows_relay_lag_without_naming_tenants(world, api, marker, client):
    post(api, world, 2, marker)
    connection.set_schema_to_public()
    body = client.get("/readyz").json()
    assert body["relay"]["pending"] >= 4
    assert body["relay"]["oldest_seconds"] >= 0
    assert "acme" not in str(body)


def test_a_failing_handler_holds_back_neither_the_others_nor_itself_for_long(world, api, marker, handler):
    """Per-handler progress: the recorder gets every batch once while a second handler is down; the entries
    stay until the second handler is done too, and it then gets exactly what it missed."""
    seen, _ = handler
    down = {"on": True}
    late: list = []

    def flaky(events):
        if down["on"]:
            raise RuntimeError("mirror down")
        late.append([e.id for e in events])

    outbox_handler_register("test-flaky", flaky)
    ids = set(post(api, world, 2, marker))
    connection.set_tenant(world.acme.tenant)
    pending = outbox_lag()[0]
    with pytest.raises(RuntimeError):
        relay_drain(batch_size=3)
    assert {str(i) for batch in seen for i in batch} >= ids  # the healthy handler went on
    assert outbox_lag()[0] == pending and not late  # kept for the one that failed
    delivered = sum(len(batch) for batch in seen)
    down["on"] = False
    assert relay_drain(batch_size=3) == pending
    assert sum(len(batch) for batch in seen) == delivered  # the recorder is not handed them again
    assert {str(i) for batch in late for i in batch} >= ids
    assert outbox_lag() == (0, None)
