"""A relay handler's pick reads only what it still has to do: with a large backlog kept by a failing handler,
the healthy handler's next pick reads the new entries, not the finished ones (measured with EXPLAIN ANALYZE)."""

import json

import pytest
from django.db import connection

from conftest import event_body
from ingest import relay
from ingest.relay import PICK_SQL, relay_drain
from ingest.services import events_bulk_create

BACKLOG = 3000
NEW = 5

# The pick before `pending`: every entry the handler is done with is read and filtered out on each batch.
OLD_PICK_SQL = (
    "SELECT id, event_id, occurred_at FROM ingest_outbox WHERE NOT done @> ARRAY[%(name)s]::text[] "
    "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
)


@pytest.fixture
def handlers():
    """Only two handlers for the test: `test-healthy` records, `test-failing` raises while state["down"]."""
    seen: dict[str, list] = {"test-healthy": [], "test-failing": []}
    state = {"down": True}

    def healthy(events):
        seen["test-healthy"].extend(e.id for e in events)

    def failing(events):
        if state["down"]:
            raise RuntimeError("mirror down")
        seen["test-failing"].extend(e.id for e in events)

    before = relay.outbox_handlers()
    relay._HANDLERS.clear()
    relay._HANDLERS.update({"test-healthy": healthy, "test-failing": failing})
    yield seen, state
    relay._HANDLERS.clear()
    relay._HANDLERS.update(before)


def _store(tenant, marker, count):
    connection.set_tenant(tenant)
    for first in range(0, count, 1000):
        events_bulk_create(
            tenant_slug=tenant.slug, events=[event_body(source=marker) for _ in range(min(1000, count - first))]
        )


def _rows_read(sql: str, name: str) -> tuple[int, list[str]]:
    """Rows of ingest_outbox the pick's plan read (returned or filtered out), and its node types, by EXPLAIN ANALYZE.

    Old versions of the entries updated in this test's one transaction stay in the indexes (in service, vacuum
    removes them); the plan skips them as invisible without reading them as rows."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingest_outbox")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, {"name": name, "limit": relay.BATCH_SIZE})
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    read, nodes = 0, []

    def walk(node):
        nonlocal read
        nodes.append(node["Node Type"])
        if node.get("Relation Name") == "ingest_outbox":
            per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            read += (per_loop + node.get("Rows Removed by Index Recheck", 0)) * node["Actual Loops"]
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return read, nodes


def test_the_healthy_handlers_pick_skips_the_backlog_a_failing_handler_keeps(world, marker, handlers):
    seen, state = handlers
    tenant = world.acme.tenant
    _store(tenant, marker, BACKLOG)
    connection.set_tenant(tenant)
    with pytest.raises(RuntimeError, match="mirror down"):
        relay_drain()
    kept = relay.outbox_lag()[0]
    assert kept >= BACKLOG and len(seen["test-healthy"]) == kept and not seen["test-failing"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT done, pending FROM ingest_outbox")
        assert cursor.fetchall() == [(["test-healthy"], ["test-failing"])]

    _store(tenant, marker, NEW)
    connection.set_tenant(tenant)
    with connection.cursor() as cursor:
        cursor.execute(PICK_SQL, {"name": "test-healthy", "limit": relay.BATCH_SIZE})
        assert len(cursor.fetchall()) == NEW  # exactly the new entries

    read, nodes = _rows_read(PICK_SQL, "test-healthy")
    assert read == NEW and "Seq Scan" not in nodes, (read, nodes)  # the new entries, none of the kept ones
    old_read, _ = _rows_read(OLD_PICK_SQL, "test-healthy")
    assert old_read >= BACKLOG  # what the pick used to read on every batch
    read, nodes = _rows_read(PICK_SQL, "test-failing")  # catching up: a batch reads about a batch, not the backlog
    assert relay.BATCH_SIZE <= read <= 2 * relay.BATCH_SIZE, (read, nodes)

    # The failing handler's pick still gets its backlog oldest first, and it catches up once it is back.
    with connection.cursor() as cursor:
        cursor.execute(PICK_SQL, {"name": "test-failing", "limit": 10})
        picked = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT id FROM ingest_outbox ORDER BY id LIMIT 10")
        assert picked == [row[0] for row in cursor.fetchall()]
    state["down"] = False
    assert relay_drain() == kept + NEW
    assert len(seen["test-failing"]) == kept + NEW and len(seen["test-healthy"]) == kept + NEW
    assert relay.outbox_lag() == (0, None)
