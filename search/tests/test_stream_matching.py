"""The live tail's matcher (search.matching) means what the Postgres backend means, for every filter.

Random events are stored, random filters run through search.backends.postgres; the matcher
must pick exactly the same events from their live shape. A second test runs many more random
`q` against random texts straight in SQL. The text stays within what search.fulltext models
(no compound tokens such as e-mail addresses or hyphenated words: see its docstring).
"""

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import orjson
from django.db import connection
from django.http import QueryDict

from ingest.models import Event
from ingest.representation import event_json
from ingest.services import events_bulk_create
from search import fulltext
from search.backends.postgres import filtered
from search.filters import LIST_PARAMS, EventFilter, parse_filters
from search.fulltext import text_matches
from search.matching import COLUMN_FIELDS, event_matches
from search.tail import decode_batch, json_text

WORDS = ["alpha", "Beta", "gamma", "disk", "full", "paid", "café", "Zürich", "or", "not", "42", "7", "abc123", "0"]
SEPARATORS = [" ", "  ", ", ", "; ", ": ", "! ", "? ", " (", ") ", ' "', '" ', "'", "_", " & ", " | ", "\n", "\t"]
NUMBERS = [0, 3, 42, -3, 1000, 2.5, -0.5, 100.0, 1e-7, 1e20, 3.0]
KEYS = ["a", "b", "ab", "région", "k", "note", "plan", "tier", "count"]
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def text(rng: random.Random, most: int = 6) -> str:
    out = ""
    for _ in range(rng.randint(0, most)):
        out += rng.choice(WORDS) + rng.choice(SEPARATORS)
    return out.strip() if rng.random() < 0.8 else out


def json_value(rng: random.Random, depth: int = 0):
    kind = rng.random()
    if depth < 3 and kind < 0.2:
        return {rng.choice(KEYS): json_value(rng, depth + 1) for _ in range(rng.randint(1, 3))}
    if depth < 3 and kind < 0.3:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind < 0.6:
        return text(rng, 3)
    if kind < 0.85:
        return rng.choice(NUMBERS)
    return rng.choice([True, False, None, "true", "3", "2.5"])


def query(rng: random.Random) -> str:
    """websearch syntax, odd corners included: negation, or, quotes (unbalanced too), operator characters."""
    pieces = []
    for _ in range(rng.randint(1, 6)):
        word = rng.choice([*WORDS, "zzz", "ALPHA", "Or", "OR"])
        phrase = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        pieces.append(
            rng.choice(
                [
                    word,
                    word,
                    "-" * rng.randint(1, 3) + word,
                    f'"{phrase}"',
                    f'-"{phrase}"',
                    "or",
                    "or",
                    rng.choice(["!", "&", "|", "(", ")", "<", ":", '""', "\\", "-", "--"]),
                    word + rng.choice([":", "'", '"', "!", "(", "<", "\\", "_"]) + rng.choice(WORDS),
                    rng.choice(["!", "(", "<", "|"]) + word,
                ]
            )
        )
    q = "".join(piece + rng.choice([" ", "  ", "\t"]) for piece in pieces).strip()
    return q + '"' if rng.random() < 0.05 else q


def test_the_matcher_knows_every_filter():
    assert set(COLUMN_FIELDS) == set(LIST_PARAMS.values())
    names = {f.name for f in dataclasses.fields(EventFilter)}
    assert names == {"time_from", "time_to", "columns", "ips", "tags", "q", "metadata", "access_trail"}, (
        "teach search.matching"
    )


def test_full_text_agrees_with_postgres_on_random_texts_and_queries(db):
    rng = random.Random(20261)
    docs = [
        (text(rng, 12) if rng.random() < 0.9 else "", json_value(rng) if rng.random() < 0.7 else {}) for _ in range(150)
    ]
    docs = [(message, metadata if isinstance(metadata, dict) else {"v": metadata}) for message, metadata in docs]
    queries = [query(rng) for _ in range(250)]
    pairs = [(message, metadata, q) for message, metadata in docs for q in queries]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (to_tsvector('simple', m) || jsonb_to_tsvector('simple', md::jsonb, '[\"string\", \"numeric\"]'))"
            " @@ websearch_to_tsquery('simple', q) FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(m, md, q)",
            [[p[0] for p in pairs], [orjson.dumps(p[1]).decode() for p in pairs], [p[2] for p in pairs]],
        )
        postgres = [row[0] for row in cursor.fetchall()]
    wrong = [(q, m, md) for (m, md, q), pg in zip(pairs, postgres, strict=True) if text_matches(q, m, md) != pg]
    assert not wrong, wrong[:5]
    assert 0.05 < sum(postgres) / len(postgres) < 0.95  # the queries do select


def test_texts_are_analysed_once_in_a_bounded_cache(monkeypatch):
    monkeypatch.setattr(fulltext, "_CACHE", type(fulltext._CACHE)())
    monkeypatch.setattr(fulltext, "_CACHE_SIZE", 2)
    for message in ["alpha beta", "gamma", "alpha beta", "delta"]:
        assert text_matches("alpha or gamma or delta", message, {})
    assert len(fulltext._CACHE) == 2
    assert text_matches("100000000000000000000", None, {"n": 10**20})  # a large float, as read back from jsonb


def random_event(rng: random.Random, source: str) -> dict:
    event = {
        "occurred_at": (T0 + timedelta(minutes=rng.randint(0, 600)))
        .astimezone(timezone(timedelta(hours=2)))
        .isoformat(),
        "actor": {"id": rng.choice(["alice", "bob", "svc-1"]), "type": rng.choice(["user", "service", "system"])},
        "action": rng.choice(["LOGIN", "UPDATE", "DELETE", "EXPORT"]),
        "resource": {"type": rng.choice(["order", "user", "report"])},
        "severity": rng.choice(["INFO", "WARNING", "ERROR", "CRITICAL"]),
        "source": source,
        "message": text(rng, 8),
        "tags": rng.sample(["billing", "eu", "us", "ops"], rng.randint(0, 2)),
        "metadata": {
            "region": rng.choice(["eu", "us", "eu west"]),
            "count": rng.choice([3, 42, 3.0, "3", -3, 2.5]),
            "flag": rng.choice([True, False, "true"]),
            "plan": rng.choice([{"tier": "gold"}, {"tier": 3}, ["gold"], "gold"]),
            rng.choice(KEYS): json_value(rng),
        },
    }
    if rng.random() < 0.7:
        event["resource"]["id"] = rng.choice(["o-1", "o-2", "u-9"])
    if rng.random() < 0.5:
        event["actor"]["session_id"] = rng.choice(["s-1", "s-2"])
    context = {
        "ip": rng.choice(["10.1.2.3", "10.9.0.1", "192.168.1.7", "2001:db8::5", "::ffff:10.1.2.3", None]),
        "request_id": rng.choice(["req-1", "req-2", None]),
        "correlation_id": rng.choice(["corr-1", None]),
    }
    event["context"] = {k: v for k, v in context.items() if v is not None}
    return event


FILTER_CHOICES = {
    "from": lambda rng: (T0 + timedelta(minutes=rng.randint(-10, 299))).isoformat(),
    "to": lambda rng: (T0 + timedelta(minutes=rng.randint(300, 700))).isoformat(),
    "actor_id": lambda rng: ",".join(rng.sample(["alice", "bob", "svc-1", "nobody"], rng.randint(1, 2))),
    "actor_type": lambda rng: rng.choice(["user", "service", "system,user"]),
    "action": lambda rng: rng.choice(["login", "UPDATE,DELETE", "EXPORT"]),
    "resource_type": lambda rng: rng.choice(["order", "user,report"]),
    "resource_id": lambda rng: rng.choice(["o-1", "o-2,u-9"]),
    "severity": lambda rng: rng.choice(["ERROR,CRITICAL", "info", "WARNING"]),
    "session_id": lambda rng: rng.choice(["s-1", "s-2"]),
    "request_id": lambda rng: rng.choice(["req-1", "req-2,req-3"]),
    "correlation_id": lambda rng: "corr-1",
    "ip": lambda rng: rng.choice(
        ["10.1.2.3", "10.0.0.0/8", "10.1.0.0/16,2001:db8::/32", "::ffff:10.1.2.3", "192.168.1.7/32", "::ffff:0:0/96"]
    ),
    "tag": lambda rng: ",".join(rng.sample(["billing", "eu", "us", "ops", "none"], rng.randint(1, 2))),
    "q": query,
    "metadata.region": lambda rng: rng.choice(["eu", "us", "eu west", "EU"]),
    "metadata.count": lambda rng: rng.choice(["3", "3.0", "42", "-3", "2.50", "nan", "inf", "x"]),
    "metadata.flag": lambda rng: rng.choice(["true", "false", "1"]),
    "metadata.plan.tier": lambda rng: rng.choice(["gold", "3"]),
    "metadata.plan": lambda rng: "gold",
}


def test_filters_agree_with_the_postgres_backend_on_random_events(world, marker):
    rng = random.Random(7)
    tenant = world.acme.tenant
    connection.set_tenant(tenant)
    result = events_bulk_create(tenant_slug="acme", events=[random_event(rng, marker) for _ in range(200)])
    stored = list(Event.objects.filter(id__in=result["ids"]))
    live = decode_batch(json_text([event_json(e) for e in stored]).encode())  # the shape the tail sees
    selected = 0
    for _ in range(400):
        params = {name: FILTER_CHOICES[name](rng) for name in rng.sample(sorted(FILTER_CHOICES), rng.randint(1, 3))}
        f, _extra = parse_filters(QueryDict(urlencode(params)))
        expected = {str(i) for i in filtered(f).filter(id__in=result["ids"]).values_list("id", flat=True)}
        assert {e.id for e in live if event_matches(f, e.event)} == expected, params
        selected += bool(expected)
    assert selected > 150  # most filters select something
    connection.set_schema_to_public()


def _published(*events: dict) -> bytes:
    """A batch as ingest.live publishes it, of events in the API shape (only what the tail reads)."""
    return orjson.dumps(list(events))


def _shape(i: int, severity: str, at: str) -> dict:
    return {"id": f"0190f0f0-0000-7000-8000-{i:012d}", "occurred_at": at, "received_at": at, "severity": severity}


def test_a_batch_is_matched_once_per_filter_in_keyset_order():
    """Connections whose filters are equal share one Selection (and its text); other filters get their own."""
    from search.audience import RESTRICTED
    from search.tail import filter_key, select

    raw = _published(
        _shape(2, "ERROR", "2026-01-01T00:00:01+00:00"),
        _shape(1, "ERROR", "2026-01-01T00:00:01+00:00"),  # same time: id decides
        _shape(3, "INFO", "2026-01-01T00:00:00+00:00"),
    )
    errors, also_errors = (parse_filters(QueryDict("severity=ERROR"))[0] for _ in range(2))
    everything = EventFilter()
    first = select(raw, errors, filter_key(errors), None, RESTRICTED)
    # an equal copy of the bytes, too
    assert select(bytes(raw), also_errors, filter_key(also_errors), None, RESTRICTED) is first
    assert [e.id[-1] for e in first.events] == ["1", "2"]
    all_of_it = select(raw, everything, filter_key(everything), None, RESTRICTED)
    assert all_of_it is not first and [e.id[-1] for e in all_of_it.events] == ["3", "1", "2"]
    message = orjson.loads(first.text)
    assert message["type"] == "events"
    assert [item["event"]["id"] for item in message["events"]] == [e.id for e in first.events]
    assert [item["cursor"] for item in message["events"]] == [e.cursor for e in first.events]
