"""Reads of events for exports: every match of a filter, newest first (like the list), in constant memory.

Exports always read PostgreSQL (the source of truth), never the search mirror, through search's Postgres
backend (the one filter language: search.filters -> search.backends.postgres.filtered).
"""

import socket
import uuid
from collections import namedtuple
from collections.abc import Iterator

import orjson
import psycopg
from django.db import connection
from psycopg.adapt import Loader
from psycopg.types.json import set_json_loads

from ingest.models import Event
from search.backends.postgres import filtered, page
from search.filters import EventFilter

# An event row as a named tuple with the model's attribute names: what ingest.representation.event_json reads
# of an Event, at a fraction of the cost of a model instance (the stream's main cost per row otherwise).
EVENT_FIELDS = tuple(field.attname for field in Event._meta.concrete_fields)
EventRow = namedtuple("EventRow", EVENT_FIELDS)


def events_stream(f: EventFilter, *, chunk_size: int) -> Iterator[EventRow]:
    """Every event matching f, newest first, from a server-side cursor fetching chunk_size rows at a time.

    Call inside a transaction (transaction.atomic), and close the iterator before it ends: the cursor lives
    in that transaction and reads rows as they are fetched (outside one, a cursor must be WITH HOLD, and
    PostgreSQL then materialises the whole result before the first row).

    The query is the Postgres backend's (search.backends.postgres.filtered), run on the request's connection
    (its tenant's search_path set by Django) through a psycopg cursor of its own that loads rows straight
    into EventRow with psycopg's C loaders for timestamps and orjson for jsonb: Django's per-row conversions
    (a Python timestamp parser, json.loads, model instances) cost more than all the rest of an export."""
    assert not connection.get_autocommit(), "events_stream needs a transaction"
    queryset = filtered(f).order_by("-occurred_at", "-id").values_list(*EVENT_FIELDS)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor():  # django-tenants sets the search_path when a cursor is made
        pass
    cursor = psycopg.ServerCursor(
        connection.connection, name=f"export_{uuid.uuid4().hex}", row_factory=lambda _cursor: EventRow._make
    )
    set_json_loads(orjson.loads, cursor)
    cursor.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)
    cursor.adapters.register_loader("inet", InetTextLoader)
    cursor.itersize = chunk_size
    return _rows(cursor, sql, params)


# Rows come in PostgreSQL's binary format (a fifth faster to load than text). psycopg's own (C) timestamp
# loader: Django registers a Python subclass on its connections.
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.BINARY)


class InetTextLoader(Loader):
    """A binary inet as PostgreSQL writes it in text (what the API shows): the address, `/bits` when not a host."""

    format = psycopg.pq.Format.BINARY

    def load(self, data) -> str:
        data = bytes(data)
        family, bits = (socket.AF_INET, 32) if data[0] == _PGSQL_AF_INET else (socket.AF_INET6, 128)
        address = socket.inet_ntop(family, data[4 : 4 + data[3]])
        return address if data[1] == bits else f"{address}/{data[1]}"


_PGSQL_AF_INET = 2


def _rows(cursor, sql: str, params) -> Iterator[EventRow]:
    try:
        cursor.execute(sql, params, binary=True)
        yield from cursor
    finally:
        cursor.close()


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
