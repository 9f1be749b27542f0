"""Idempotency under concurrent repeats: real commits from several threads and connections."""

import threading
import uuid

from django.db import connection
from rest_framework.test import APIClient

from conftest import count_events, event_body


def _race(n, work):
    """Run work(i) in n threads released together; returns their results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_concurrent_repeats_of_one_event_id_store_one_row(committed_world, marker):
    body = event_body(event_id=str(uuid.uuid4()), source=marker)
    responses = _race(
        8, lambda i: _client(committed_world.acme.keys["ingest"]).post("/api/v1/logs", body, format="json")
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 7 + [201]
    assert {r.json()["id"] for r in responses} == {body["event_id"]}
    assert count_events(committed_world.acme.tenant, source=marker) == 1


def test_concurrent_idempotency_key_header(committed_world, marker):
    def post(i):
        return _client(committed_world.acme.keys["ingest"]).post(
            "/api/v1/logs", event_body(source=marker), format="json", HTTP_IDEMPOTENCY_KEY=marker
        )

    responses = _race(6, post)
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert count_events(committed_world.acme.tenant, source=marker) == 1


def test_overlapping_bulk_batches_never_double_store(committed_world, marker):
    shared = [str(uuid.uuid4()) for _ in range(50)]

    def post(i):
        ids = shared[i * 10 :] + shared[: i * 10]  # same ids, different orders
        events = [event_body(event_id=e, source=marker) for e in ids]
        return _client(committed_world.acme.keys["ingest"]).post("/api/v1/logs/bulk", {"events": events}, format="json")

    responses = _race(4, post)
    assert all(r.status_code == 201 for r in responses), [r.content for r in responses]
    assert sum(r.json()["created"] for r in responses) == 50
    assert count_events(committed_world.acme.tenant, source=marker) == 50
