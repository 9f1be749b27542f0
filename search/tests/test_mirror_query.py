"""EventFilter -> Elasticsearch search bodies: golden queries for every filter, the page envelope, the cursor."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.http import QueryDict

from search.cursor import cursor_decode, cursor_encode
from search.filters import LIST_PARAMS, parse_filters
from search.mirror.query import epoch_nanos, search_body

GOLDEN = json.loads((Path(__file__).parent / "golden" / "queries.json").read_text())
RESTRICTED = "restricted:"  # a golden query read by an audience without the access trail (a User, a read key)


def body(query: str, **kwargs) -> dict:
    f = parse_filters(QueryDict(query.removeprefix(RESTRICTED)))[0]
    f.access_trail = not query.startswith(RESTRICTED)
    return search_body(f, **{"limit": 50, **kwargs})


@pytest.mark.parametrize("query", sorted(GOLDEN))
def test_query_matches_the_golden_file(query):
    assert body(query)["query"] == GOLDEN[query]


def test_the_golden_file_covers_every_filter():
    names = {name.split("=")[0] for query in GOLDEN for name in query.split("&") if query}
    filters = set(LIST_PARAMS) | {"from", "to", "ip", "tag", "q"}
    assert filters <= names
    assert any(name.startswith("metadata.") for name in names)


def test_a_filter_of_each_kind_reads_as_intended():
    """Spot checks in plain words, so the golden file cannot drift into nonsense unnoticed."""
    (time_range,) = GOLDEN["from=2026-11-01T12:00:00Z&to=2026-11-02T00:00:00%2B02:00"]["bool"]["filter"]
    assert time_range == {
        "range": {"occurred_at": {"gte": "2026-11-01T12:00:00+00:00", "lt": "2026-11-01T22:00:00+00:00"}}
    }
    (networks,) = GOLDEN["ip=10.0.0.0/8,2001:db8::/32"]["bool"]["filter"]
    assert networks["bool"]["should"] == [{"term": {"ip": "10.0.0.0/8"}}, {"term": {"ip": "2001:db8::/32"}}]
    (number,) = GOLDEN["metadata.ratio=2.50"]["bool"]["filter"]
    assert number == {"terms": {"metadata_terms": ["s:ratio=2.50", "n:ratio=2.5"]}}
    (nothing,) = GOLDEN["q=***"]["bool"]["filter"]
    assert nothing == {"match_none": {}}
    assert GOLDEN[""] == {"match_all": {}}
    (no_trail,) = GOLDEN[RESTRICTED]["bool"]["filter"]
    assert no_trail == {"bool": {"must_not": [{"term": {"source": "auditlog"}}]}}


def test_page_envelope_sorts_newest_first_and_asks_one_more_than_the_limit():
    assert {k: v for k, v in body("", limit=20).items() if k != "query"} == {
        "sort": [{"occurred_at": {"order": "desc"}}, {"id": {"order": "desc"}}],
        "size": 21,
        "track_total_hits": False,
        "_source": {"excludes": ["metadata_terms", "metadata_text"]},
    }


def test_cursor_becomes_search_after_in_exact_nanoseconds():
    event_id = uuid.UUID("0192f000-0000-7000-8000-000000000001")
    after = cursor_decode(cursor_encode(datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC), event_id))
    assert body("severity=ERROR", after=after)["search_after"] == [1_793_534_400_123_456_000, str(event_id)]


@pytest.mark.parametrize(
    "moment, nanos",
    [
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 1_000),
        (datetime(2262, 4, 11, tzinfo=UTC), 9_223_286_400_000_000_000),
        (datetime.fromisoformat("2026-11-01T14:00:00.999999+02:00"), 1_793_534_400_999_999_000),
    ],
)
def test_epoch_nanos_is_exact(moment, nanos):
    assert epoch_nanos(moment) == nanos
