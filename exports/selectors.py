"""Reads of events for exports: every match of a filter, newest first (like the list), in constant memory.

Exports always read PostgreSQL (the source of truth), never the search mirror, through search's Postgres
backend (the one filter language: search.filters -> search.backends.postgres.filtered). Each event comes as
its line of the export, written by the query (exports.lines), as bytes.
"""

import uuid
from collections.abc import Iterator

import psycopg
from django.db import connection, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from psycopg.types.string import ByteaBinaryLoader

from ingest.models import Event
from search.backends.postgres import filtered
from search.filters import EventFilter

from .lines import lines_sql

EVENT_FIELDS = tuple(field.attname for field in Event._meta.concrete_fields)


def _events_sql(f: EventFilter, *, after: tuple[bytes, bytes] | None = None, limit: int | None = None):
    queryset = filtered(f)
    if after is not None:
        position = [value.decode() for value in after]
        queryset = queryset.filter(
            RawSQL("(occurred_at, id) < (%s::timestamptz, %s::uuid)", position, output_field=BooleanField())
        )
    queryset = queryset.order_by("-occurred_at", "-id").values_list(*EVENT_FIELDS)
    if limit is not None:
        queryset = queryset[:limit]
    return queryset.query.sql_with_params()


def _configure(cursor) -> None:
    # Rows come in PostgreSQL's binary format, where a text is its UTF-8 bytes: loaded as bytes as they are.
    cursor.adapters.register_loader("text", ByteaBinaryLoader)


def _raw_connection():
    """The request's psycopg connection, in its tenant's schema, for the transaction under way: without JIT,
    which compiles the long line expressions for seconds before the first row and runs them no faster."""
    with connection.cursor():  # django-tenants sets the search_path when a cursor is made
        pass
    raw = connection.connection
    raw.execute("SET LOCAL jit = off")
    return raw


def export_lines(f: EventFilter, fmt: str, *, chunk_size: int) -> Iterator[list[bytes]]:
    """Every event matching f, newest first, as its line of a `fmt` export (exports.lines), chunk_size lines
    at a time, from a server-side cursor.

    Call inside a transaction (transaction.atomic), and close the iterator before it ends: the cursor lives
    in that transaction and reads rows as they are fetched (outside one, a cursor must be WITH HOLD, and
    PostgreSQL then materialises the whole result before the first row)."""
    assert not connection.get_autocommit(), "export_lines needs a transaction"
    sql, params = _events_sql(f)
    cursor = psycopg.ServerCursor(_raw_connection(), name=f"export_{uuid.uuid4().hex}")
    _configure(cursor)
    return _batches(cursor, lines_sql(sql, fmt), params, chunk_size)


def _batches(cursor, sql: str, params, chunk_size: int) -> Iterator[list[bytes]]:
    try:
        cursor.execute(sql, params, binary=True)
        while rows := cursor.fetchmany(chunk_size):
            yield [row[0] for row in rows]
    finally:
        cursor.close()


def export_line_pages(f: EventFilter, fmt: str, *, page_size: int) -> Iterator[list[bytes]]:
    """Every event matching f, newest first, as its line of a `fmt` export, in keyset pages (one short query
    each, no transaction held): for background jobs, which commit their progress as they go."""
    after = None
    while True:
        sql, params = _events_sql(f, after=after, limit=page_size)
        with transaction.atomic(), psycopg.Cursor(_raw_connection()) as cursor:  # Django's are client-side
            _configure(cursor)
            rows = cursor.execute(lines_sql(sql, fmt, position=True), params, binary=True).fetchall()
        if rows:
            yield [row[0] for row in rows]
        if len(rows) < page_size:
            return
        after = (rows[-1][1], rows[-1][2])


def events_count(f: EventFilter) -> int:
    return filtered(f).count()
