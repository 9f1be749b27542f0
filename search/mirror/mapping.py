"""The mirror's document: one per event, with every event field, plus two fields derived from metadata.

Why these types:
- ids, types, actions, severity, source, tags: keyword, because every filter on them is exact.
- occurred_at, received_at: date_nanos, because Postgres keeps microseconds and the keyset
  cursor must compare exactly what Postgres compares (`date` would round to milliseconds).
- message: text with the standard analyzer (lower-cased words, no stemming, no stop words),
  the closest to Postgres' 'simple' text search configuration.
- ip: ip, so one `term` query matches an address or a CIDR network.
- metadata and changes: kept in _source only (object, enabled false). Filters and full text
  use the derived fields instead (see metadata.py): `metadata_terms` holds one keyword per
  scalar leaf reachable by a filter path, typed, so `metadata.<path>=<value>` has exactly the
  Postgres containment semantics (no match inside arrays, a number matches by value); and
  `metadata_text` holds the string and number values, for `q`, as jsonb_to_tsvector does.
  A `flattened` field would match inside arrays and numbers only by their spelling.
- masked_fields: keyword, exact paths (which events had a card number masked).
- dynamic false: a field added to events later is kept in _source but not indexed until the
  mapping says how, rather than being guessed.
"""

from elasticsearch_dsl import DateNanos, Document, Ip, Keyword, Long, MetaField, Object, Text

INDEX_SETTINGS = {"number_of_shards": 1}


class EventDocument(Document):
    id = Keyword()
    occurred_at = DateNanos()
    received_at = DateNanos()
    actor_id = Keyword()
    actor_type = Keyword()
    actor_name = Keyword()
    actor_email = Keyword()
    session_id = Keyword()
    action = Keyword()
    resource_type = Keyword()
    resource_id = Keyword()
    resource_name = Keyword()
    severity = Keyword()
    message = Text(analyzer="standard")
    ip = Ip()
    user_agent = Keyword()
    request_id = Keyword()
    correlation_id = Keyword()
    changes = Object(enabled=False)
    changed_fields = Keyword(multi=True)
    metadata = Object(enabled=False)
    metadata_terms = Keyword(multi=True)
    metadata_text = Text(analyzer="standard", multi=True)
    source = Keyword()
    tags = Keyword(multi=True)
    masked_fields = Keyword(multi=True)
    sequence = Long()
    hash = Keyword(index=False)

    class Meta:
        dynamic = MetaField(False)


# Fields of the document that are not event fields (left out when an event is rebuilt).
DERIVED_FIELDS = ("metadata_terms", "metadata_text")


def index_mappings() -> dict:
    return EventDocument._doc_type.mapping.to_dict()
