"""The search data set: top the bench tenant up to N events with COPY, and clean up after ingest runs."""

import random
import sys
import time
from datetime import timedelta

from psycopg.copy import QueuedLibpqWriter

from .context import connect
from .data import COPY_SQL, EventFactory, copy_text, now, spread_times

WINDOW = timedelta(days=60)
CHUNK_ROWS = 10_000  # generated and sent at a time
COMMIT_ROWS = 100_000  # one COPY (transaction) each: an interrupted load keeps its finished part


def event_count(schema: str) -> int:
    with connect(schema) as conn:
        return conn.execute("SELECT count(*) FROM ingest_event").fetchone()[0]


def _copy_chunks(conn, chunks):
    """One COPY of all chunks; a writer thread sends while the next chunk is generated."""
    with conn.cursor() as cursor, cursor.copy(COPY_SQL, writer=QueuedLibpqWriter(cursor)) as copy:
        for text in chunks:
            copy.write(text)


def load_missing(schema: str, target: int) -> int:
    """COPY synthetic events spread over the last 60 days until the tenant holds target events."""
    missing = target - event_count(schema)
    if missing <= 0:
        return 0
    seed = time.time_ns()
    factory, rng = EventFactory(seed), random.Random(seed + 1)
    end = now() - timedelta(seconds=1)  # received_at stays before the ingest benchmarks' rows
    start, span = end - WINDOW, WINDOW / missing
    started = time.monotonic()

    def chunks(first: int, last: int):
        for offset in range(first, last, CHUNK_ROWS):
            count = min(CHUNK_ROWS, last - offset)
            times = spread_times(start + span * offset, start + span * (offset + count), count, rng)
            yield copy_text(factory.rows(times))

    with connect(schema) as conn:
        conn.execute("SET synchronous_commit TO off")
        for first in range(0, missing, COMMIT_ROWS):
            _copy_chunks(conn, chunks(first, min(first + COMMIT_ROWS, missing)))
            done = min(first + COMMIT_ROWS, missing)
            rate = done / (time.monotonic() - started)
            print(f"  loaded {done:,} / {missing:,} events ({rate:,.0f}/s)", file=sys.stderr)
    return missing


def delete_received_since(schema: str, since) -> int:
    """Remove what the ingest benchmarks wrote, so the search data set keeps its size; and their outbox entries,
    which no relay drains during a run (the bench starts no worker)."""
    with connect(schema) as conn:
        conn.execute("DELETE FROM ingest_outbox WHERE created_at >= %s", [since])
        return conn.execute("DELETE FROM ingest_event WHERE received_at >= %s", [since]).rowcount


def vacuum_analyze(schema: str):
    with connect(schema) as conn:
        conn.execute("VACUUM (ANALYZE) ingest_event")
        conn.execute("CHECKPOINT")
