"""The mirror means what Postgres means: metadata filters and `q`, checked against the Postgres backend.

Real events go in through the API and are filtered by the Postgres backend (through the API);
the mirror's side is evaluated from the documents built for the same events: metadata by the
typed terms, `q` by the parsed web-search expression over the analysed words (lower-cased runs
of letters and digits, as the standard analyzer splits plain text).
"""

import re
from urllib.parse import urlencode

import pytest
from django.db import connection

from conftest import event_body
from ingest.models import Event
from search.mirror.documents import document_source
from search.mirror.metadata import metadata_filter_terms, metadata_terms
from search.mirror.websearch import websearch_parse

URL = "/api/v1/logs"

METADATA = [
    {"count": 3},
    {"count": 3.0},
    {"count": "3"},
    {"count": "3.0"},
    {"count": [3]},
    {"count": None},
    {"flag": True},
    {"flag": "true"},
    {"flag": False},
    {"plan": {"tier": "gold"}},
    {"plan": [{"tier": "gold"}]},
    {"plan.tier": "gold"},
    {"ratio": 2.5},
    {"big": 1e3},
    {"deep": {"a": {"b": {"c": {"d": 7}}}}},
]

MESSAGES = [
    ("Alice signed in from Paris", {"note": "Paris office", "code": 42}),
    ("Bob signed out", {}),
    ("svc-1 exported the quarterly ledger", {"owner": "alice"}),
    ("Order purged by alice", {"tags": ["urgent", "ops"]}),
    ("in signed order", {}),
    (None, {"note": "only metadata here"}),
]


def _post_all(api, world, marker, bodies) -> None:
    response = api(world.acme.keys["ingest"]).post(f"{URL}/bulk", {"events": bodies}, format="json")
    assert response.status_code == 201, response.content


def _documents(world, marker) -> list[dict]:
    connection.set_tenant(world.acme.tenant)
    try:
        return [document_source(e) for e in Event.objects.filter(source=marker)]
    finally:
        connection.set_schema_to_public()


def _postgres_ids(api, world, marker, **params) -> set[str]:
    response = api(world.acme.keys["read"]).get(f"{URL}?{urlencode({'source': marker, 'limit': 1000, **params})}")
    assert response.status_code == 200, response.content
    return {e["id"] for e in response.json()["results"]}


@pytest.fixture
def metadata_events(world, api, marker):
    _post_all(api, world, marker, [event_body(source=marker, metadata=m) for m in METADATA])
    return _documents(world, marker)


@pytest.mark.parametrize(
    "path, value",
    [
        ("count", "3"),
        ("count", "3.0"),
        ("count", "03"),
        ("count", "3e0"),
        ("count", "null"),
        ("count", "nan"),
        ("count", "-inf"),
        ("flag", "true"),
        ("flag", "false"),
        ("plan.tier", "gold"),
        ("ratio", "2.5"),
        ("ratio", "2.50"),
        ("big", "1000"),
        ("big", "1e3"),
        ("deep.a.b.c.d", "7"),
        ("deep.a.b", "7"),
    ],
)
def test_metadata_filter_matches_what_postgres_matches(world, api, marker, metadata_events, path, value):
    wanted = set(metadata_filter_terms(path.split("."), value))
    mirror = {doc["id"] for doc in metadata_events if wanted & set(doc["metadata_terms"])}
    assert mirror == _postgres_ids(api, world, marker, **{f"metadata.{path}": value})


def test_numbers_json_cannot_hold_have_no_term_and_no_filter_spelling():
    assert metadata_terms({"huge": float("inf"), "ok": 1}) == ["n:ok=1"]
    assert metadata_filter_terms(["huge"], "inf") == ["s:huge=inf"]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _contains(words: list[str], phrase: list[str]) -> bool:
    return any(words[i : i + len(phrase)] == phrase for i in range(len(words) - len(phrase) + 1))


def _mirror_matches(q: str, doc: dict) -> bool:
    values = [_words(v) for v in [doc["message"] or "", *doc["metadata_text"]]]
    groups = websearch_parse(q)
    return any(all(any(_contains(v, _words(o.text)) for v in values) != o.negated for o in group) for group in groups)


@pytest.fixture
def text_events(world, api, marker):
    _post_all(api, world, marker, [event_body(source=marker, message=m, metadata=md) for m, md in MESSAGES])
    return _documents(world, marker)


@pytest.mark.parametrize(
    "q",
    [
        "alice",
        "ALICE paris",
        '"signed in"',
        '"signed in" -bob',
        "signed -in",
        "alice or bob",
        "alice bob or ledger",
        "ledger or alice paris",
        "-alice",
        "- alice",
        "--alice",
        "42",
        "paris -office",
        "office",
        "or",
        "alice or",
        "ledger or or purged",
        "svc-1",
        '-"signed in"',
        '"in signed',
        "urgent ops",
        "***",
        "alice *** or -bob",
        "alice -",
        '"" alice',
        "or or",
        "OR alice",
        'alice OR -"signed in"',
        "alice _",
        "alice -_",
        "alice | bob",
        "(alice) !paris",
        "alice:* paris",
        'alice or"bob"',
        "it's ledger",
    ],
)
def test_text_query_matches_what_postgres_matches(world, api, marker, text_events, q):
    mirror = {doc["id"] for doc in text_events if _mirror_matches(q, doc)}
    assert mirror == _postgres_ids(api, world, marker, q=q)
