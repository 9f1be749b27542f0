"""Raw psycopg baselines: the same rows written straight into a copy of the event table.

Schema `bench_baseline` holds ingest_event built from the migration's own EVENT_TABLE SQL
(same columns, generated search vector, indexes and partitioning) with the service's
monthly partitions, recreated on every run and truncated before each measurement.
"""

import importlib
import time

import orjson
from django.db import connection

from ingest.partitions import partitions_ensure
from ingest.services import COLUMNS
from ingest.uuid7 import uuid7

from .context import connect
from .data import COPY_SQL, now
from .stats import Latencies
from .workers import Pending, run_threads

# The event table as the migrations build it: the table, then the columns added since.
EVENT_TABLE = ";\n".join(
    [
        importlib.import_module("ingest.migrations.0001_initial").EVENT_TABLE,
        importlib.import_module("ingest.migrations.0003_event_masked_fields").ADD_COLUMN,
    ]
)
SCHEMA = "bench_baseline"
_JSON_COLUMNS = {"changes", "metadata"}
_ID, _RECEIVED_AT = COLUMNS.index("id"), COLUMNS.index("received_at")
INSERT_SQL = "INSERT INTO ingest_event ({}) VALUES ({})".format(
    ", ".join(COLUMNS), ", ".join("%s::jsonb" if c in _JSON_COLUMNS else "%s" for c in COLUMNS)
)


def create_schema():
    with connect() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"SET search_path TO {SCHEMA}")
        conn.execute(EVENT_TABLE)
    connection.set_schema(SCHEMA, include_public=False)
    try:
        partitions_ensure()
    finally:
        connection.set_schema_to_public()


def _truncate():
    with connect(SCHEMA) as conn:
        conn.execute("TRUNCATE ingest_event")


def _insert_params(row: dict) -> list:
    return [orjson.dumps(row[c]).decode() if c in _JSON_COLUMNS and row[c] is not None else row[c] for c in COLUMNS]


def insert_rate(rows: list[dict], *, threads: int, duration: float) -> dict:
    """One INSERT per transaction (autocommit) from `threads` connections for `duration` seconds.

    The rows cycle through `rows` with a fresh id and received_at each, as the service assigns them.
    """
    _truncate()
    params = [_insert_params(row) for row in rows]
    latencies = Latencies()
    deadline = time.monotonic() + duration

    def worker(index: int):
        with connect(SCHEMA) as conn:
            position = index * len(params) // threads
            while time.monotonic() < deadline:
                values = list(params[position % len(params)])
                values[_ID], values[_RECEIVED_AT] = uuid7(), now()
                started = time.perf_counter()
                conn.execute(INSERT_SQL, values)
                latencies.add(time.perf_counter() - started)
                position += 1

    elapsed = run_threads(threads, worker)
    return {"events_per_s": latencies.count / elapsed, **latencies.summary()}


def copy_rate(batches: list[str], *, rows_per_batch: int, clients: int) -> dict:
    """COPY each pre-formatted batch in its own transaction, `clients` connections taking batches in turn."""
    _truncate()
    latencies = Latencies()
    pending = Pending(batches)

    def worker(_index: int):
        with connect(SCHEMA) as conn:
            while (text := pending.take()) is not None:
                started = time.perf_counter()
                with conn.transaction(), conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                    copy.write(text)
                latencies.add(time.perf_counter() - started)

    elapsed = run_threads(clients, worker)
    return {"events_per_s": len(batches) * rows_per_batch / elapsed, **latencies.summary()}
