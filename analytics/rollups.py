"""Statistics rollups: hourly counts kept current by the outbox relay, rebuilt from the event table on demand.

The relay hands each batch of stored events to `rollups_relay_handler` (registered in AnalyticsConfig.ready),
inside the tenant's schema and the transaction that marks the batch done. The handler first records the
batch's event ids in analytics_rollup_counted (ON CONFLICT DO NOTHING ... RETURNING): only the events not
counted before are added, so a batch handed over twice (or an event relayed twice) counts once. Markers are
pruned after MARKER_DAYS: a batch whose transaction committed is never handed over again, so they only
guard against a redelivery racing a commit.

Old events (backfill) land in their own hour: buckets are by `occurred_at`, whenever the event arrives.
Deleting events (retention, restore) must be followed by `rollups_rebuild(before=...)` over the deleted
range, which recounts those hours from the event table. The ingest path never touches the rollups.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.db import connection, transaction

from ingest.models import Event
from ingest.services import ACCESS_TRAIL_SOURCE

RELAY_HANDLER_NAME = "analytics.rollups"
MARKER_DAYS = 2
HOUR = timedelta(hours=1)


def hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _upsert_dims(cursor, counts: Counter) -> None:
    if not counts:
        return
    keys = sorted(counts, key=lambda k: (k[0], k[1], k[2], k[3], k[4] or ""))  # one order: no deadlocks
    cursor.execute(
        """
        INSERT INTO analytics_rollup_dims (bucket, action, severity, resource_type, source, count)
        SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[])
        ON CONFLICT ON CONSTRAINT analytics_rollup_dims_key
        DO UPDATE SET count = analytics_rollup_dims.count + EXCLUDED.count
        """,
        [*([k[i] for k in keys] for i in range(5)), [counts[k] for k in keys]],
    )


def _upsert_actors(cursor, counts: Counter) -> None:
    if not counts:
        return
    keys = sorted(counts)
    cursor.execute(
        """
        INSERT INTO analytics_rollup_actors (bucket, actor_id, actor_type, trail, count)
        SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::boolean[], %s::bigint[])
        ON CONFLICT ON CONSTRAINT analytics_rollup_actors_key
        DO UPDATE SET count = analytics_rollup_actors.count + EXCLUDED.count
        """,
        [*([k[i] for k in keys] for i in range(4)), [counts[k] for k in keys]],
    )


def rollups_count(events: list[Event]) -> int:
    """Add these events to the rollups, each at most once ever; returns how many were new."""
    if not events:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO analytics_rollup_counted (event_id) SELECT unnest(%s::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            [sorted({e.id for e in events})],
        )
        new = {row[0] for row in cursor.fetchall()}
        dims: Counter = Counter()
        actors: Counter = Counter()
        for e in events:
            if e.id not in new:
                continue
            new.discard(e.id)  # the same event twice in one batch counts once
            bucket = hour_floor(e.occurred_at)
            dims[(bucket, e.action, e.severity, e.resource_type, e.source)] += 1
            actors[(bucket, e.actor_id, e.actor_type, e.source == ACCESS_TRAIL_SOURCE)] += 1
        _upsert_dims(cursor, dims)
        _upsert_actors(cursor, actors)
        cursor.execute(
            "DELETE FROM analytics_rollup_counted WHERE counted_at < now() - make_interval(days => %s)",
            [MARKER_DAYS],
        )
        return sum(dims.values())


def rollups_relay_handler(events: list[Event]) -> None:
    rollups_count(events)


def rollups_rebuild(*, since: datetime | None = None, before: datetime | None = None) -> int:
    """Recount the hours overlapping [since, before) from the event table (all hours when unbounded).

    For events stored without the relay (a bulk load, a restore) and after deletions (retention). The
    rollup tables are locked against the relay meanwhile; events still waiting in the outbox for this
    handler are left for the relay to count. Returns the events counted.
    """
    start = hour_floor(since) if since else None
    end = hour_floor(before) + (HOUR if hour_floor(before) != before else timedelta(0)) if before else None
    where, params = [], []
    if start:
        where.append("{col} >= %s")
        params.append(start)
    if end:
        where.append("{col} < %s")
        params.append(end)

    def clause(col: str) -> str:
        return (" WHERE " + " AND ".join(w.format(col=col) for w in where)) if where else ""

    pending = "NOT EXISTS (SELECT 1 FROM ingest_outbox o WHERE o.event_id = e.id AND NOT (%s = ANY(o.done)))"
    events_where = clause("e.occurred_at")
    events_where = (events_where + " AND " if events_where else " WHERE ") + pending
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE analytics_rollup_dims, analytics_rollup_actors IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute("DELETE FROM analytics_rollup_dims" + clause("bucket"), params)
        cursor.execute("DELETE FROM analytics_rollup_actors" + clause("bucket"), params)
        cursor.execute(
            f"""
            INSERT INTO analytics_rollup_dims (bucket, action, severity, resource_type, source, count)
            SELECT date_trunc('hour', e.occurred_at, 'UTC'), e.action, e.severity, e.resource_type, e.source, count(*)
            FROM ingest_event e{events_where}
            GROUP BY 1, 2, 3, 4, 5
            """,
            [*params, RELAY_HANDLER_NAME],
        )
        cursor.execute(
            f"""
            INSERT INTO analytics_rollup_actors (bucket, actor_id, actor_type, trail, count)
            SELECT date_trunc('hour', e.occurred_at, 'UTC'), e.actor_id, e.actor_type,
                   e.source IS NOT DISTINCT FROM %s, count(*)
            FROM ingest_event e{events_where}
            GROUP BY 1, 2, 3, 4
            """,
            [ACCESS_TRAIL_SOURCE, *params, RELAY_HANDLER_NAME],
        )
        cursor.execute("SELECT coalesce(sum(count), 0) FROM analytics_rollup_dims" + clause("bucket"), params)
        return int(cursor.fetchone()[0])
