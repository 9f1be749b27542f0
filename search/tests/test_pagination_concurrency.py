"""Cursor pages while another connection keeps inserting: no duplicate, no skip."""

import random
import threading
from datetime import UTC, datetime, timedelta

from django.db import connection
from rest_framework.test import APIClient

from conftest import event_body
from ingest.models import Event


def _client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_paging_during_concurrent_inserts(committed_world, marker):
    base = datetime.now(UTC) - timedelta(hours=1)
    # Many events share a timestamp, so the id half of the cursor matters.
    initial = [
        event_body(source=marker, occurred_at=(base + timedelta(seconds=i // 3)).isoformat()) for i in range(300)
    ]
    writer = _client(committed_world.acme.keys["ingest"])
    for start in range(0, 300, 100):
        assert (
            writer.post("/api/v1/logs/bulk", {"events": initial[start : start + 100]}, format="json").status_code == 201
        )
    connection.set_tenant(committed_world.acme.tenant)
    existing = set(Event.objects.filter(source=marker).values_list("id", flat=True))
    connection.set_schema_to_public()
    assert len(existing) == 300

    stop = threading.Event()
    inserted = []

    def keep_writing():
        client = _client(committed_world.acme.keys["ingest"])
        rng = random.Random(7)
        try:
            while not stop.is_set():
                # New events, and backfilled ones landing among the pages already read and still to read.
                when = datetime.now(UTC) if rng.random() < 0.5 else base + timedelta(seconds=rng.randint(0, 100))
                response = client.post(
                    "/api/v1/logs", event_body(source=marker, occurred_at=when.isoformat()), format="json"
                )
                inserted.append(response.status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        reader = _client(committed_world.acme.keys["read"])
        seen, url = [], f"/api/v1/logs?source={marker}&limit=7"
        while url:
            page = reader.get(url).json()
            seen += [e["id"] for e in page["results"]]
            url = page["next"]
    finally:
        stop.set()
        thread.join()

    assert inserted and set(inserted) == {201}
    assert len(seen) == len(set(seen)), "an event appeared on two pages"
    missing = {str(i) for i in existing} - set(seen)
    assert not missing, f"{len(missing)} events that existed before paging were skipped"
