"""EXPLAIN: each filter's first page is served by an index that fits it.

Table statistics in the test database are tiny, so sequential scans are
switched off to make the planner show which index it would use at scale.
"""

import re

import pytest
from django.db import connection
from django.http import QueryDict

from search.backends.postgres import filtered
from search.filters import parse_filters

SORT_NODE = re.compile(r"(^|->)\s*(Incremental )?Sort\s+\(", re.M)


@pytest.fixture
def in_acme(world):
    connection.set_tenant(world.acme.tenant)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    yield
    connection.set_schema_to_public()


def plan(query: str, *, bitmap: bool = False) -> str:
    if bitmap:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = on")
    qs = filtered(parse_filters(QueryDict(query))[0]).order_by("-occurred_at", "-id")[:51]
    return qs.explain()


@pytest.mark.parametrize(
    "query, index",
    [
        ("", "_pkey"),  # the primary key (occurred_at, id) of each partition, read backwards
        ("actor_id=alice", "_actor_id_occurred_at_id_idx"),
        ("action=LOGIN", "_action_occurred_at_id_idx"),
        ("resource_type=order", "_resource_type_occurred_at_id_idx"),
        ("resource_id=o-1", "_resource_id_occurred_at_id_idx"),
        ("severity=CRITICAL", "_severity_occurred_at_id_idx"),
        ("source=billing", "_source_occurred_at_id_idx"),
        ("correlation_id=c", "_correlation_id_occurred_at_id_idx"),
        ("request_id=r", "_request_id_occurred_at_id_idx"),
        ("session_id=s", "_session_id_occurred_at_id_idx"),
        ("ip=10.0.0.1", "_ip_occurred_at_id_idx"),
    ],
)
def test_ordered_index_scan_without_sort(in_acme, query, index):
    text = plan(query)
    assert "Index Scan Backward" in text and index in text, text
    assert not SORT_NODE.search(text), text


@pytest.mark.parametrize(
    "query, index",
    [("q=disk", "_search_vector_idx"), ("metadata.region=eu", "_metadata_idx"), ("tag=billing", "_tags_idx")],
)
def test_gin_indexes_serve_text_metadata_and_tags(in_acme, query, index):
    text = plan(query, bitmap=True)
    assert index in text, text
    assert "Bitmap Index Scan" in text, text


def test_time_window_uses_the_primary_key(in_acme):
    text = plan("from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z")
    assert "Index Scan Backward" in text
    assert "p202611" in text and "p202610" not in text, "partitions outside the window must be pruned"
