"""Statistics rollups: counts per hour and value, per day of each combination of values (the cube), per day
and month and actor (and actor and value), kept current by the outbox relay. What each table holds, and why:
analytics.models.rollups.

The relay hands each batch of stored events to `rollups_relay_handler` (registered in AnalyticsConfig.ready),
inside the tenant's schema and the transaction that marks the batch done. The handler first records the
batch's event ids in analytics_rollup_counted (ON CONFLICT DO NOTHING ... RETURNING): only the events not
counted before are added, so a batch handed over twice (or an event relayed twice) counts once. Markers are
pruned after MARKER_DAYS: a batch whose transaction committed is never handed over again, so they only
guard against a redelivery racing a commit.

Old events (backfill) land in their own hour: buckets are by `occurred_at`, whenever the event arrives.
Deleting events (retention, restore) must be followed by `rollups_rebuild(before=...)` over the deleted
range, which recounts those hours and days from the event table. The ingest path never touches the rollups.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from ingest.models import Event
from ingest.services import ACCESS_TRAIL_SOURCE

RELAY_HANDLER_NAME = "analytics.rollups"
MARKER_DAYS = 2
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


DIMENSIONS = ("action", "severity", "resource_type", "source")
# The cube's bit of each dimension (as GROUPING(action, severity, resource_type, source) numbers them).
CUBE_BITS = {"action": 8, "severity": 4, "resource_type": 2, "source": 1}
CUBOIDS = range(1, 16)  # every non-empty set of dimensions: the empty one is the total, in the hourly counts


def hour_floor(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_floor(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _upsert_values(cursor, counts: Counter) -> None:
    if not counts:
        return
    keys = sorted(counts, key=lambda k: (k[0], k[1], k[2] or "", k[3]))  # one order: no deadlocks
    cursor.execute(
        """
        INSERT INTO analytics_rollup_values (bucket, dimension, value, trail, count)
        SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::boolean[], %s::bigint[])
        ON CONFLICT (bucket, dimension, value, trail)  -- analytics_rollup_values_key
        DO UPDATE SET count = analytics_rollup_values.count + EXCLUDED.count
        """,
        [*([k[i] for k in keys] for i in range(4)), [counts[k] for k in keys]],
    )


def cube_keys(day: datetime, row: tuple, trail: bool):
    """The cube's keys of one event: (day, kept, action, severity, resource_type, source, trail) per cuboid."""
    action, severity, resource_type, source = row
    source = source or ""
    for kept in CUBOIDS:
        yield (
            day,
            kept,
            action if kept & 8 else None,
            severity if kept & 4 else None,
            resource_type if kept & 2 else None,
            source if kept & 1 else None,
            trail,
        )


def _upsert_cube(cursor, counts: Counter) -> None:
    if not counts:
        return
    keys = sorted(counts, key=lambda k: tuple("" if v is None else v for v in k[1:]) + (k[0],))  # one order
    cursor.execute(
        """
        INSERT INTO analytics_rollup_cube (bucket, kept, action, severity, resource_type, source, trail, count)
        SELECT * FROM unnest(%s::timestamptz[], %s::smallint[], %s::text[], %s::text[], %s::text[], %s::text[],
                             %s::boolean[], %s::bigint[])
        ON CONFLICT (kept, action, severity, resource_type, source, trail, bucket)  -- analytics_rollup_cube_key
        DO UPDATE SET count = analytics_rollup_cube.count + EXCLUDED.count
        """,
        [*([k[i] for k in keys] for i in range(7)), [counts[k] for k in keys]],
    )


def _upsert_actor_values(cursor, counts: Counter, table: str) -> None:
    if not counts:
        return
    keys = sorted(counts, key=lambda k: (k[1], k[2] or "", k[0], k[3], k[4], k[5]))  # the key's order: no deadlocks
    cursor.execute(
        f"""
        INSERT INTO {table} (bucket, dimension, value, actor_id, actor_type, trail, count)
        SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::boolean[],
                             %s::bigint[])
        ON CONFLICT (dimension, value, bucket, actor_id, actor_type, trail)  -- {table}_key
        DO UPDATE SET count = {table}.count + EXCLUDED.count
        """,
        [*([k[i] for k in keys] for i in range(6)), [counts[k] for k in keys]],
    )


def month_floor(value: datetime) -> datetime:
    return day_floor(value).replace(day=1)


def month_ceil(value: datetime) -> datetime:
    low = month_floor(value)
    return low if low == value else (low + timedelta(days=32)).replace(day=1)


def _upsert_actors(cursor, counts: Counter, table: str = "analytics_rollup_actors") -> None:
    if not counts:
        return
    keys = sorted(counts)
    cursor.execute(
        f"""
        INSERT INTO {table} (bucket, actor_id, actor_type, trail, count)
        SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::boolean[], %s::bigint[])
        ON CONFLICT (bucket, actor_id, actor_type, trail)  -- {table}_key
        DO UPDATE SET count = {table}.count + EXCLUDED.count
        """,
        [*([k[i] for k in keys] for i in range(4)), [counts[k] for k in keys]],
    )


def _insert_facts(cursor, facts: list[tuple]) -> None:
    """One fact per event: (occurred_at, action, severity, resource_type, source or '', actor_type, actor_id).

    New combinations and actors are numbered first (sorted: concurrent batches take their key locks in one order),
    then the facts are inserted with their numbers, in a second statement that sees the first one's rows."""
    if not facts:
        return
    combinations = sorted({fact[1:6] for fact in facts})
    actors = sorted({(fact[6], fact[5]) for fact in facts})
    cursor.execute(
        """
        WITH new_combinations AS (
            INSERT INTO analytics_stats_combination (action, severity, resource_type, source, actor_type, trail)
            SELECT *, c.source = %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
                AS c(action, severity, resource_type, source, actor_type)
            ON CONFLICT DO NOTHING
        )
        INSERT INTO analytics_stats_actor (actor_id, actor_type) SELECT * FROM unnest(%s::text[], %s::text[])
        ON CONFLICT DO NOTHING
        """,
        [
            ACCESS_TRAIL_SOURCE,
            *(list(column) for column in zip(*combinations, strict=True)),
            *(list(column) for column in zip(*actors, strict=True)),
        ],  # fmt: skip
    )
    cursor.execute(
        """
        INSERT INTO analytics_stats_fact (occurred_at, combination, actor)
        SELECT f.occurred_at, c.id, a.id
        FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
            AS f(occurred_at, action, severity, resource_type, source, actor_type, actor_id)
        JOIN analytics_stats_combination c
            ON (c.action, c.severity, c.resource_type, c.source, c.actor_type)
             = (f.action, f.severity, f.resource_type, f.source, f.actor_type)
        JOIN analytics_stats_actor a ON (a.actor_id, a.actor_type) = (f.actor_id, f.actor_type)
        """,
        [list(column) for column in zip(*sorted(facts), strict=True)],
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
        values: Counter = Counter()
        actors: Counter = Counter()
        months: Counter = Counter()
        cube: Counter = Counter()
        actor_values: Counter = Counter()
        actor_value_months: Counter = Counter()
        facts: list[tuple] = []
        counted = 0
        for e in events:
            if e.id not in new:
                continue
            new.discard(e.id)  # the same event twice in one batch counts once
            counted += 1
            hour, day, trail = hour_floor(e.occurred_at), day_floor(e.occurred_at), e.source == ACCESS_TRAIL_SOURCE
            row = tuple(getattr(e, dimension) for dimension in DIMENSIONS)
            month = month_floor(e.occurred_at)
            for dimension, value in zip(DIMENSIONS, row, strict=True):
                values[(hour, dimension, value, trail)] += 1
                actor_values[(day, dimension, value, e.actor_id, e.actor_type, trail)] += 1
                actor_value_months[(month, dimension, value, e.actor_id, e.actor_type, trail)] += 1
            cube.update(cube_keys(day, row, trail))
            actors[(day, e.actor_id, e.actor_type, trail)] += 1
            months[(month, e.actor_id, e.actor_type, trail)] += 1
            facts.append((e.occurred_at, *row[:3], row[3] or "", e.actor_type, e.actor_id))
        _upsert_values(cursor, values)
        _upsert_actors(cursor, actors)
        _upsert_actors(cursor, months, "analytics_rollup_actor_months")
        _upsert_cube(cursor, cube)
        _upsert_actor_values(cursor, actor_values, "analytics_rollup_actor_values")
        _upsert_actor_values(cursor, actor_value_months, "analytics_rollup_actor_value_months")
        _insert_facts(cursor, facts)
        cursor.execute(
            "DELETE FROM analytics_rollup_counted WHERE counted_at < now() - make_interval(days => %s)",
            [MARKER_DAYS],
        )
        return counted


def rollups_relay_handler(events: list[Event]) -> None:
    rollups_count(events)


def _range(column: str, start: datetime | None, end: datetime | None) -> tuple[str, list]:
    where, params = [], []
    if start:
        where.append(f"{column} >= %s")
        params.append(start)
    if end:
        where.append(f"{column} < %s")
        params.append(end)
    return " AND ".join(where) or "TRUE", params


def _ceil(value: datetime, floor) -> datetime:
    low = floor(value)
    return low if low == value else low + (HOUR if floor is hour_floor else DAY)


# Events still waiting in the outbox for this handler: the relay counts them.
_NOT_PENDING = "NOT EXISTS (SELECT 1 FROM ingest_outbox o WHERE o.event_id = e.id AND NOT (%s = ANY(o.done)))"


def cube_rebuild(cursor, since: datetime | None, before: datetime | None) -> None:
    """Recount the cube over the whole days of [since, before) (widened to days) from the event table, in the
    caller's transaction (which has locked the rollup tables)."""
    days = (since and day_floor(since), before and _ceil(before, day_floor))
    where, params = _range("bucket", *days)
    cursor.execute(f"DELETE FROM analytics_rollup_cube WHERE {where}", params)
    where, params = _range("e.occurred_at", *days)
    cursor.execute(
        f"""
        INSERT INTO analytics_rollup_cube (bucket, kept, action, severity, resource_type, source, trail, count)
        SELECT day, 15 - GROUPING(action, severity, resource_type, source), action, severity, resource_type,
               source, trail, sum(n)
        FROM (
            SELECT date_trunc('day', e.occurred_at, 'UTC') AS day, e.action, e.severity, e.resource_type,
                   coalesce(e.source, '') AS source, e.source IS NOT DISTINCT FROM %s AS trail, count(*) AS n
            FROM ingest_event e
            WHERE {where} AND {_NOT_PENDING}
            GROUP BY 1, 2, 3, 4, 5, 6
        ) full_cube
        GROUP BY day, trail, CUBE (action, severity, resource_type, source)
        HAVING GROUPING(action, severity, resource_type, source) < 15
        """,
        [ACCESS_TRAIL_SOURCE, *params, RELAY_HANDLER_NAME],
    )


def facts_rebuild(cursor, since: datetime | None, before: datetime | None) -> None:
    """Recount the facts of [since, before) from the event table, in the caller's transaction (which has locked
    the facts): number the combinations and actors they need, then insert them in time order (the BRIN on
    occurred_at stays tight)."""
    where, params = _range("occurred_at", since, before)
    cursor.execute(f"DELETE FROM analytics_stats_fact WHERE {where}", params)
    where, params = _range("e.occurred_at", since, before)
    cursor.execute(
        f"""
        INSERT INTO analytics_stats_combination (action, severity, resource_type, source, actor_type, trail)
        SELECT DISTINCT e.action, e.severity, e.resource_type, coalesce(e.source, ''), e.actor_type,
               e.source IS NOT DISTINCT FROM %s
        FROM ingest_event e WHERE {where}
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT DO NOTHING
        """,
        [ACCESS_TRAIL_SOURCE, *params],
    )
    cursor.execute(
        f"""
        INSERT INTO analytics_stats_actor (actor_id, actor_type)
        SELECT DISTINCT e.actor_id, e.actor_type FROM ingest_event e WHERE {where} ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO analytics_stats_fact (occurred_at, combination, actor)
        SELECT e.occurred_at, c.id, a.id
        FROM ingest_event e
        JOIN analytics_stats_combination c
            ON (c.action, c.severity, c.resource_type, c.source, c.actor_type)
             = (e.action, e.severity, e.resource_type, coalesce(e.source, ''), e.actor_type)
        JOIN analytics_stats_actor a ON (a.actor_id, a.actor_type) = (e.actor_id, e.actor_type)
        WHERE {where} AND {_NOT_PENDING}
        ORDER BY e.occurred_at
        """,
        [*params, RELAY_HANDLER_NAME],
    )


def actor_values_rebuild(cursor, since: datetime | None, before: datetime | None) -> None:
    """Recount the counts per actor and value over the whole months of [since, before) (the days from the event
    table, the months from the days), in the caller's transaction (which has locked the rollup tables)."""
    months = (since and month_floor(since), before and month_ceil(before))
    where, params = _range("bucket", *months)
    cursor.execute(f"DELETE FROM analytics_rollup_actor_values WHERE {where}", params)
    cursor.execute(f"DELETE FROM analytics_rollup_actor_value_months WHERE {where}", params)
    where, params = _range("e.occurred_at", *months)
    cursor.execute(
        f"""
        INSERT INTO analytics_rollup_actor_values (bucket, dimension, value, actor_id, actor_type, trail, count)
        SELECT date_trunc('day', e.occurred_at, 'UTC'), d.dimension, d.value, e.actor_id, e.actor_type,
               e.source IS NOT DISTINCT FROM %s, count(*)
        FROM ingest_event e
        CROSS JOIN LATERAL (VALUES ('action', e.action), ('severity', e.severity),
                                   ('resource_type', e.resource_type), ('source', e.source)) d(dimension, value)
        WHERE {where} AND {_NOT_PENDING}
        GROUP BY 1, 2, 3, 4, 5, 6
        """,
        [ACCESS_TRAIL_SOURCE, *params, RELAY_HANDLER_NAME],
    )
    where, params = _range("bucket", *months)
    cursor.execute(
        f"""
        INSERT INTO analytics_rollup_actor_value_months (bucket, dimension, value, actor_id, actor_type, trail, count)
        SELECT date_trunc('month', bucket, 'UTC'), dimension, value, actor_id, actor_type, trail, sum(count)
        FROM analytics_rollup_actor_values WHERE {where}
        GROUP BY 1, 2, 3, 4, 5, 6
        """,
        params,
    )


def rollups_rebuild(*, since: datetime | None = None, before: datetime | None = None) -> int:
    """Recount the rollups over [since, before), widened to whole hours (values), days (cube, actors) and months
    (actors, actors per value), from the event table; all of them when unbounded.

    For events stored without the relay (a bulk load, a restore) and after deletions (retention). The
    rollup tables are locked against the relay meanwhile; events still waiting in the outbox for this
    handler are left for the relay to count. Returns the events counted in the hours recounted.
    """
    hours = (since and hour_floor(since), before and _ceil(before, hour_floor))
    days = (since and day_floor(since), before and _ceil(before, day_floor))
    months = (since and month_floor(since), before and month_ceil(before))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")  # the groups of millions of events, in memory
        cursor.execute(
            "LOCK TABLE analytics_rollup_values, analytics_rollup_actors, analytics_rollup_actor_months, "
            "analytics_rollup_cube, analytics_rollup_actor_values, analytics_rollup_actor_value_months, "
            "analytics_stats_fact IN SHARE ROW EXCLUSIVE MODE"
        )
        cube_rebuild(cursor, since, before)
        facts_rebuild(cursor, *hours)
        actor_values_rebuild(cursor, since, before)
        where, params = _range("bucket", *hours)
        cursor.execute(f"DELETE FROM analytics_rollup_values WHERE {where}", params)
        where, params = _range("e.occurred_at", *hours)
        cursor.execute(
            f"""
            INSERT INTO analytics_rollup_values (bucket, dimension, value, trail, count)
            SELECT date_trunc('hour', e.occurred_at, 'UTC'), d.dimension, d.value,
                   e.source IS NOT DISTINCT FROM %s, count(*)
            FROM ingest_event e
            CROSS JOIN LATERAL (VALUES ('action', e.action), ('severity', e.severity),
                                       ('resource_type', e.resource_type), ('source', e.source)) d(dimension, value)
            WHERE {where} AND {_NOT_PENDING}
            GROUP BY 1, 2, 3, 4
            """,
            [ACCESS_TRAIL_SOURCE, *params, RELAY_HANDLER_NAME],
        )
        for table, grain, bounds in (("analytics_rollup_actors", "day", days),
                                     ("analytics_rollup_actor_months", "month", months)):  # fmt: skip
            where, params = _range("bucket", *bounds)
            cursor.execute(f"DELETE FROM {table} WHERE {where}", params)
            where, params = _range("e.occurred_at", *bounds)
            cursor.execute(
                f"""
                INSERT INTO {table} (bucket, actor_id, actor_type, trail, count)
                SELECT date_trunc('{grain}', e.occurred_at, 'UTC'), e.actor_id, e.actor_type,
                       e.source IS NOT DISTINCT FROM %s, count(*)
                FROM ingest_event e
                WHERE {where} AND {_NOT_PENDING}
                GROUP BY 1, 2, 3, 4
                """,
                [ACCESS_TRAIL_SOURCE, *params, RELAY_HANDLER_NAME],
            )
        where, params = _range("bucket", *hours)
        cursor.execute(
            f"SELECT coalesce(sum(count), 0) FROM analytics_rollup_values WHERE dimension = 'severity' AND {where}",
            params,
        )
        return int(cursor.fetchone()[0])
