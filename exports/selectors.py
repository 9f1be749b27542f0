"""Reads of events for exports: every match of a filter, newest first (like the list), in constant memory.

Exports always read PostgreSQL (the source of truth), never the search mirror, through search's Postgres
backend (the one filter language: search.filters -> search.backends.postgres.filtered).
"""

from collections import namedtuple
from collections.abc import Iterator

from django.db import connection

from ingest.models import Event
from search.backends.postgres import filtered, page
from search.filters import EventFilter

# An event row as a named tuple with the model's attribute names: what ingest.representation.event_json reads
# of an Event, at a fraction of the cost of a model instance (the stream's main cost per row otherwise).
EVENT_FIELDS = tuple(field.attname for field in Event._meta.concrete_fields)
EventRow = namedtuple("EventRow", EVENT_FIELDS)


def events_stream(f: EventFilter, *, chunk_size: int) -> Iterator[EventRow]:
    """Every event matching f, newest first, from a server-side cursor fetching chunk_size rows at a time.

    Call inside a transaction (transaction.atomic): there the cursor is an ordinary one that reads rows as
    they are fetched. In autocommit Django declares it WITH HOLD, and PostgreSQL then materialises the whole
    result before the first row. Close the iterator before the transaction ends."""
    assert not connection.get_autocommit(), "events_stream needs a transaction"
    rows = filtered(f).order_by("-occurred_at", "-id").values_list(*EVENT_FIELDS).iterator(chunk_size=chunk_size)
    return _as_rows(rows)


def _as_rows(rows) -> Iterator[EventRow]:
    make = EventRow._make
    try:
        for row in rows:
            yield make(row)
    finally:
        rows.close()


def events_pages(f: EventFilter, *, page_size: int) -> Iterator[list[Event]]:
    """Every event matching f, newest first, in keyset pages (one short query each, no transaction held):
    for background jobs, which commit their progress as they go."""
    after = None
    while True:
        rows = page(f, after=after, limit=page_size)
        more = len(rows) > page_size
        rows = rows[:page_size]
        if rows:
            yield rows
        if not more:
            return
        after = (rows[-1].occurred_at, rows[-1].id)


def events_count(f: EventFilter) -> int:
    return filtered(f).count()
