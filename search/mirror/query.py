"""EventFilter (+ keyset position, limit) -> an Elasticsearch search body, meaning what the Postgres backend means.

from inclusive, to exclusive; a comma list is "any of"; an ip is an address or a CIDR
network; tags "any of"; metadata by typed terms (see metadata.py); q in web-search syntax
over message and metadata values; newest first by (occurred_at, id); search_after for the
cursor; limit + 1 hits to tell whether there is a next page. Everything is a filter: the
order is the sort, never a score.
"""

from datetime import UTC, datetime

from elasticsearch_dsl import Q, Search

from ingest.services import ACCESS_TRAIL_SOURCE

from ..filters import EventFilter
from .mapping import DERIVED_FIELDS
from .metadata import metadata_filter_terms
from .websearch import websearch_parse

TEXT_FIELDS = ["message", "metadata_text"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_nanos(moment: datetime) -> int:
    """A time as date_nanos sorts it (exact integer arithmetic, no float rounding)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _phrase(text: str) -> Q:
    # A phrase query of one word is a term query; of several (svc-1, "signed in") a phrase, as in Postgres.
    return Q("multi_match", query=text, type="phrase", fields=TEXT_FIELDS)


def text_query(q: str) -> Q:
    groups = websearch_parse(q)
    if not groups:
        return Q("match_none")
    clauses = []
    for group in groups:
        clause = {}
        if wanted := [_phrase(o.text) for o in group if not o.negated]:
            clause["filter"] = wanted
        if unwanted := [_phrase(o.text) for o in group if o.negated]:
            clause["must_not"] = unwanted
        clauses.append(Q("bool", **clause))
    return clauses[0] if len(clauses) == 1 else Q("bool", should=clauses, minimum_should_match=1)


def filter_clauses(f: EventFilter) -> list[Q]:
    clauses = []
    if f.time_from or f.time_to:
        bounds = {}
        if f.time_from:
            bounds["gte"] = f.time_from.isoformat()
        if f.time_to:
            bounds["lt"] = f.time_to.isoformat()
        clauses.append(Q("range", occurred_at=bounds))
    for column, values in f.columns.items():
        clauses.append(Q("terms", **{column: values}))
    if f.ips:
        # `term` on an ip field takes an address or a CIDR network.
        clauses.append(Q("bool", should=[Q("term", ip=ip) for ip in f.ips], minimum_should_match=1))
    if f.tags:
        clauses.append(Q("terms", tags=f.tags))
    for path, value in f.metadata:
        clauses.append(Q("terms", metadata_terms=metadata_filter_terms(path, value)))
    if f.q:
        clauses.append(text_query(f.q))
    if not f.access_trail:
        clauses.append(Q("bool", must_not=[Q("term", source=ACCESS_TRAIL_SOURCE)]))
    return clauses


def search_body(f: EventFilter, *, after=None, limit: int) -> dict:
    """The body of one page: strictly after the (occurred_at, id) position when given."""
    clauses = filter_clauses(f)
    search = (
        Search()
        .query(Q("bool", filter=clauses) if clauses else Q("match_all"))
        .sort({"occurred_at": {"order": "desc"}}, {"id": {"order": "desc"}})
        .source(excludes=list(DERIVED_FIELDS))
        .extra(size=limit + 1, track_total_hits=False)
    )
    if after is not None:
        occurred_at, event_id = after
        search = search.extra(search_after=[epoch_nanos(occurred_at), str(event_id)])
    return search.to_dict()
