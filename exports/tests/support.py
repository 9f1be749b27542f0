"""Helpers of the export tests: loading many events fast, reading every page of the list."""

from datetime import UTC, datetime, timedelta

import orjson
from django.db import connection

from ingest.services import events_bulk_create

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def load_events(tenant, marker: str, count: int, *, start: datetime = T0, **extra) -> None:
    """count varied events of the tenant under the marker, one second apart, in bulk writes of 1,000."""
    connection.set_tenant(tenant)
    try:
        for first in range(0, count, 1000):
            batch = []
            for i in range(first, min(first + 1000, count)):
                batch.append(
                    {
                        "occurred_at": (start + timedelta(seconds=i)).isoformat(),
                        "actor": {"id": f"user-{i % 97}", "name": f"User {i % 97}"},
                        "action": ("LOGIN", "UPDATE", "DELETE", "EXPORT")[i % 4],
                        "resource": {"type": "order", "id": f"o-{i}"},
                        "severity": ("INFO", "WARNING", "ERROR", "CRITICAL")[i % 4],
                        "message": f"event number {i}",
                        "context": {"ip": f"10.0.{i % 250}.{i % 199}", "request_id": f"req-{i // 3}"},
                        "metadata": {"n": i, "region": ("eu", "us")[i % 2]},
                        "tags": ["bulk", ("odd", "even")[i % 2 == 0]],
                        "source": marker,
                        **extra,
                    }
                )
            events_bulk_create(tenant_slug=tenant.slug, events=batch)
    finally:
        connection.set_schema_to_public()


def body_of(response) -> bytes:
    assert response.streaming, "an export is a streamed response"
    return b"".join(response.streaming_content)


def ndjson_rows(response) -> list[dict]:
    return [orjson.loads(line) for line in body_of(response).splitlines()]


def list_all(client, params: dict, *, limit: int = 1000) -> list[dict]:
    """Every event of GET /api/v1/logs with these filters, following `next` to the end."""
    response = client.get("/api/v1/logs", {**params, "limit": limit})
    assert response.status_code == 200, response.content[:300]
    rows = list(response.json()["results"])
    while response.json()["next"]:
        response = client.get(response.json()["next"])
        assert response.status_code == 200
        rows.extend(response.json()["results"])
    return rows


def as_json(rows: list[dict]) -> list[dict]:
    """Rows as a client parses them (the list's JSON and the export's compare equal)."""
    return orjson.loads(orjson.dumps(rows))
