"""Statistics of the log: GET /api/v1/logs/stats (selector and view).

Under the list's filters (search.filters), one answer: the total, the most frequent actions, severities,
resource types, sources and actors, and a time series by `interval`.

Where it is counted (stats_plan; the tables are described in analytics.models.rollups):
- only time filtered (the overview of a period): the total, the series and the by_* lists from the hourly counts
  per value (interval hour or day), the top actors from the monthly and daily counts per actor;
- time and the dimensions action, severity, resource_type, source (any of them, any values): the by_* lists from
  the daily cube, each from the cuboid of the filtered dimensions and its own; the series by the day from the
  cuboid of the filtered dimensions, by the hour (one dimension filtered) from the hourly counts per value;
  the top actors (one dimension filtered) from the daily and monthly counts per actor and value;
- what the rollups cannot answer in a question filtered only on time, those dimensions and actor_type (the top
  actors and an hourly series under two dimensions or more, a series by the minute, actor types, a range
  without a whole hour (day) inside): from the facts, one narrow row per event read through the index of its
  combination of values;
- any other filter (actor, full text, tags, ip, metadata, ids): from the event table, by one GROUPING SETS
  aggregate over the filtered rows (search.backends.postgres.filtered), so every filter means what it means in
  the list; a filter narrows the rows read through its index.
The rollups answer the whole hours (days, months) inside the range, and the facts its partial ones at the ends
(or, for a partial unit that is most of its unit, the part outside the range, taken away from the whole unit).
All of them are read in one snapshot. Rollups and facts count what the relay has relayed, in the same
transaction: they trail commits by the relay's lag (seconds).
"""

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from auditlog.errors import FieldErrors
from auditlog.openapi import error_responses
from ingest.models import ActorType
from search.api.views import FILTER_PARAMETERS
from search.audience import audience_of
from search.backends.postgres import filtered
from search.filters import EventFilter, parse_filters

from .rollups import CUBE_BITS, DAY, HOUR, day_floor, hour_floor, month_ceil, month_floor

INTERVALS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
TOP_VALUES = 20  # per dimension
TOP_ACTORS = 10
MAX_BUCKETS = 5000  # of a series: 3.5 days by the minute, 208 days by the hour
DIMENSIONS = ("action", "severity", "resource_type", "source")
FACT_COLUMNS = {*DIMENSIONS, "actor_type"}  # the list filters the facts answer
ACTOR_TYPE_SAMPLE = 100_000  # actors counted to choose how an actor type filter is read


@dataclass
class StatsPlan:
    """Where each part is counted (for tests and the benchmark): 'values' (hourly counts per value), 'cube' (daily
    counts per combination of values), 'actors' (daily and monthly counts per actor), 'actor_values' (the same
    per actor and value), 'facts' or 'events'. `less`: under an actor type filter whose other types have fewer actors,
    the rollups' parts count every type and the facts of the other types are taken away ('facts')."""

    series: str
    dimensions: str
    actors: str
    less: str = ""

    def sources(self) -> set[str]:
        return {self.series, self.dimensions, self.actors}


def interval_pick(f: EventFilter, requested: str | None) -> str:
    """The interval asked for, or one that gives a readable series for the time range; checks the bucket bound."""
    if requested is not None and requested not in INTERVALS:
        raise FieldErrors({"interval": ["One of minute, hour, day."]})
    span = ((f.time_to or timezone.now()) - f.time_from) if f.time_from else None
    interval = requested
    if interval is None:
        if span is None or span > timedelta(days=14):
            interval = "day"
        elif span > timedelta(hours=6):
            interval = "hour"
        else:
            interval = "minute"
    if span is None and interval == "minute":
        raise FieldErrors({"interval": ["A series by the minute needs `from` (at most 3 days before `to`)."]})
    if span is not None and span / INTERVALS[interval] > MAX_BUCKETS:
        raise FieldErrors({"interval": [f"At most {MAX_BUCKETS} buckets: narrow `from`/`to` or widen the interval."]})
    return interval


def _floor(value: datetime, interval: str) -> datetime:
    value = value.astimezone(UTC)
    if interval == "minute":
        return value.replace(second=0, microsecond=0)
    if interval == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _split(f: EventFilter, floor, unit: timedelta):
    """[from, to) as whole units for the rollups and signed pieces for the facts: (start, end, edges), start/end
    None when unbounded; None when no whole unit lies inside.

    A partial unit at an end is either added from the facts (low, high, +1), or, when it is the larger part of its
    unit, the whole unit is read from the rollups and the part outside the range taken away (low, high, -1): a
    range from 00:05 reads five minutes of facts, not most of a day."""
    start = f.time_from and (floor(f.time_from) + (unit if floor(f.time_from) != f.time_from else timedelta(0)))
    end = f.time_to and floor(f.time_to)
    if start and end and start >= end:
        return None
    edges = []
    if f.time_from and start != f.time_from:
        low = start - unit
        if f.time_from - low < start - f.time_from:
            edges.append((low, f.time_from, -1))
            start = low
        else:
            edges.append((f.time_from, start, 1))
    if f.time_to and end != f.time_to:
        high = end + unit
        if high - f.time_to < f.time_to - end:
            edges.append((f.time_to, high, -1))
            end = high
        else:
            edges.append((end, f.time_to, 1))
    return start, end, edges


def _filtered_dimensions(f: EventFilter) -> list[str]:
    return [d for d in DIMENSIONS if d in f.columns]


def _structured(f: EventFilter) -> bool:
    """Filtered only on time and the columns the facts know (the facts answer it exactly)."""
    return not (f.ips or f.tags or f.q or f.metadata) and set(f.columns) <= FACT_COLUMNS


def _other_actor_types(f: EventFilter) -> list[str] | None:
    """Under an actor type filter, the other types when they have fewer actors (their facts are then fewer to read
    than the filter's: the rollups count all types, and the others are taken away); else None. Counted over a
    bounded sample of the actors: the choice changes the cost, never the counts."""
    chosen = f.columns["actor_type"]
    others = [t for t in ActorType.values if t not in chosen]
    if not others:
        return others
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE actor_type = ANY(%s)), count(*) FILTER (WHERE actor_type = ANY(%s)) "
            "FROM (SELECT actor_type FROM analytics_stats_actor LIMIT %s) sample",
            [others, chosen, ACTOR_TYPE_SAMPLE],
        )
        of_others, of_chosen = cursor.fetchone()
    return others if of_others < of_chosen else None


def stats_plan(f: EventFilter, interval: str, *, use_rollups: bool = True) -> StatsPlan:
    if not (use_rollups and _structured(f)):
        return StatsPlan("events", "events", "events")
    less = ""
    if "actor_type" in f.columns:  # the rollups do not count by actor type
        others = _other_actor_types(f)
        if others is None:
            return StatsPlan("facts", "facts", "facts")
        less = "facts" if others else ""
    dimensions = _filtered_dimensions(f)
    whole_hours = interval != "minute" and _split(f, hour_floor, HOUR) is not None
    whole_days = _split(f, day_floor, DAY) is not None
    if not dimensions:  # only time: the overview of a period
        return StatsPlan(
            series="values" if whole_hours else "facts",
            dimensions="values" if whole_hours else "facts",
            actors="actors" if whole_days else "facts",
            less=less if whole_hours else "",
        )
    if len(dimensions) == 1 and whole_hours:
        series = "values"  # the hourly counts of the filtered values: partial hours from the facts
    elif interval == "day" and whole_days:
        series = "cube"
    else:
        series = "facts"
    return StatsPlan(
        series=series,
        dimensions="cube" if whole_days else "facts",
        actors="actor_values" if len(dimensions) == 1 and whole_days else "facts",
        less=less if series != "facts" or whole_days else "",
    )


# Grouping sets by name: the columns each groups by ("t" is the series bucket).
_SETS = {
    "series": ("t",),
    "action": ("action",),
    "severity": ("severity",),
    "resource_type": ("resource_type",),
    "source": ("source",),
    "actor": ("actor_id", "actor_type"),
}


def _grouped(relation: str, params: list, *, time_col: str, count: str, interval: str, sets: list[str]) -> dict:
    """One pass over `relation` (a SELECT), grouped by each named set -> {set: [(key tuple, count), ...]}."""
    columns = list(dict.fromkeys(c for s in sets for c in _SETS[s]))
    refs = [f"date_trunc('{interval}', r.{time_col}, 'UTC')" if c == "t" else f"r.{c}" for c in columns]
    select = refs
    grouping = ", ".join("(" + ", ".join(refs[columns.index(c)] for c in _SETS[s]) + ")" for s in sets)
    sql = (
        f"SELECT {', '.join(select)}, GROUPING({', '.join(refs)}), {count} AS n "
        f"FROM ({relation}) r GROUP BY GROUPING SETS ({grouping})"
    )
    # GROUPING(...) has a 1 bit for each column left out of the row's set, the first column the highest bit.
    masks = {}
    for s in sets:
        mask = 0
        for i, c in enumerate(columns):
            if c not in _SETS[s]:
                mask |= 1 << (len(columns) - 1 - i)
        masks[mask] = s
    out: dict[str, list] = {s: [] for s in sets}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            name = masks.get(row[-2])
            if name is None:
                continue
            out[name].append((tuple(row[columns.index(c)] for c in _SETS[name]), int(row[-1])))
    return out


def _rollup_where(start, end, access_trail: bool) -> tuple[str, list]:
    where, params = ["TRUE"], []
    if start:
        where.append("bucket >= %s")
        params.append(start)
    if end:
        where.append("bucket < %s")
        params.append(end)
    if not access_trail:
        where.append("NOT trail")
    return " AND ".join(where), params


def _from_facts(f: EventFilter, interval: str, sets: list[str], *, top_actors: bool = False) -> dict:
    """The named sets counted from the facts of [from, to): one pass over the facts of the filter's combinations
    (one range of the (combination, occurred_at) index each) or actor types' actors (of (actor, occurred_at)), or
    over the range (BRIN), as the planner finds cheaper; grouped by bucket, combination and actor number; the
    combinations then summed per dimension, the actor numbers named. `top_actors`: only the top ones (the facts
    answer the whole range)."""
    joined, params = "", []
    if "actor_type" in f.columns:  # through the actors (few of a rare type: one index range each)
        joined = " JOIN analytics_stats_actor sa ON sa.id = s.actor AND sa.actor_type = ANY(%s)"
        params.append(f.columns["actor_type"])
    of_combinations = []
    for column in sorted(set(f.columns) & set(DIMENSIONS)):
        of_combinations.append(f"c.{column} = ANY(%s)")
        params.append(f.columns[column])
    where = []
    if not f.access_trail and of_combinations:
        of_combinations.append("NOT c.trail")
    elif not f.access_trail:  # the trail's few combinations left out, without a join
        where.append("s.combination <> ALL(ARRAY(SELECT id FROM analytics_stats_combination WHERE trail))")
    where += of_combinations
    if f.time_from:
        where.append("s.occurred_at >= %s")
        params.append(f.time_from)
    if f.time_to:
        where.append("s.occurred_at < %s")
        params.append(f.time_to)
    wanted = ["series"] if "series" in sets else []
    wanted += ["combination"] if set(sets) & set(DIMENSIONS) else []
    wanted += ["actor"] if "actor" in sets else []
    if not wanted:
        return {}
    expressions = {"series": f"date_trunc('{interval}', s.occurred_at, 'UTC')", "combination": "s.combination",
                   "actor": "s.actor"}  # fmt: skip
    grouped = [expressions[name] for name in wanted]
    # GROUPING(...) has a 1 bit for each expression left out of the row's set, the first expression the highest.
    kinds = " ".join(
        f"WHEN {sum(1 << (len(wanted) - 1 - j) for j in range(len(wanted)) if j != i)} THEN '{name}'"
        for i, name in enumerate(wanted)
    )
    selected = ", ".join(
        f"{expressions[name] if name in wanted else 'NULL::' + null_type} AS {alias}"
        for name, alias, null_type in (("series", "t", "timestamptz"), ("combination", "combination", "integer"),
                                       ("actor", "actor", "integer"))
    )  # fmt: skip
    if of_combinations:
        joined += " JOIN analytics_stats_combination c ON c.id = s.combination"
    actors = "SELECT * FROM g WHERE kind = 'actor'"
    if top_actors:
        actors = (
            "SELECT g.* FROM g JOIN analytics_stats_actor a ON a.id = g.actor WHERE kind = 'actor' "
            'ORDER BY n DESC, a.actor_id COLLATE "C", a.actor_type COLLATE "C" LIMIT %s'
        )
    sql = f"""
        WITH g AS MATERIALIZED (
            SELECT CASE GROUPING({", ".join(grouped)}) {kinds} END AS kind, {selected}, count(*) AS n
            FROM analytics_stats_fact s{joined}
            WHERE {" AND ".join(where) or "TRUE"}
            GROUP BY GROUPING SETS ({", ".join(f"({e})" for e in grouped)})
        ),
        rows AS (SELECT * FROM g WHERE kind <> 'actor' UNION ALL ({actors}))
        SELECT r.kind, r.t, c.action, c.severity, c.resource_type, nullif(c.source, ''), a.actor_id,
               a.actor_type, r.n
        FROM rows r
        LEFT JOIN analytics_stats_combination c ON c.id = r.combination
        LEFT JOIN analytics_stats_actor a ON a.id = r.actor
    """
    if top_actors:
        params.append(TOP_ACTORS)
    out: dict[str, list] = {name: [] for name in sets}
    by_dimension: dict[str, Counter] = {name: Counter() for name in sets if name in DIMENSIONS}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, t, action, severity, resource_type, source, actor_id, actor_type, n in cursor.fetchall():
            if kind == "series":
                out["series"].append(((t,), int(n)))
            elif kind == "combination":
                values = {"action": action, "severity": severity, "resource_type": resource_type, "source": source}
                for name, counts in by_dimension.items():
                    counts[values[name]] += n
            else:
                out["actor"].append(((actor_id, actor_type), int(n)))
    for name, counts in by_dimension.items():
        out[name] = [((value,), int(n)) for value, n in counts.items()]
    return out


def _from_values(f: EventFilter, interval: str, sets: list[str]) -> tuple[dict, list]:
    """From the hourly counts per value for the whole hours of the range: (counts, the edges left to the facts).

    Unfiltered: the total, series and by_* (the series from the severities, which every event has). Filtered on
    one dimension: the series of its values (asked for: `series` only)."""
    start, end, edges = _split(f, hour_floor, HOUR)
    clause, params = _rollup_where(start, end, f.access_trail)
    dimensions = _filtered_dimensions(f)
    out: dict[str, list] = {name: [] for name in sets}
    pieces, piece_params = [], []
    if "series" in sets:
        series_of, series_params = ("dimension = 'severity'", [])
        if dimensions:
            series_of, series_params = "dimension = %s AND value = ANY(%s)", [dimensions[0], f.columns[dimensions[0]]]
        pieces.append(
            f"SELECT 'series', NULL, date_trunc('{interval}', bucket, 'UTC'), sum(count) FROM analytics_rollup_values "
            f"WHERE {clause} AND {series_of} GROUP BY 3"
        )
        piece_params += params + series_params
    by = [name for name in sets if name in DIMENSIONS]
    if by:
        pieces.append(
            "SELECT dimension, value, NULL::timestamptz, sum(count) FROM analytics_rollup_values "
            f"WHERE {clause} AND dimension = ANY(%s) GROUP BY dimension, value"
        )
        piece_params += [*params, by]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(pieces), piece_params)
        for dimension, value, bucket, n in cursor.fetchall():
            out[dimension].append(((bucket,) if dimension == "series" else (value,), int(n)))
    return out, edges


def _cube_piece(f: EventFilter, kept: int, group: str, start, end) -> tuple[str, list]:
    """One cuboid's rows under the filter, grouped by `group` (a dimension or 'bucket').

    Each column is an equality the cube's key seeks on: a filtered dimension its values, the dimension grouped by
    the values it has in the range (read from its own cuboid), the others NULL; then the days of each combination."""
    where, params = ["kept = %s"], [kept]
    for dimension in DIMENSIONS:
        bit = CUBE_BITS[dimension]
        if not kept & bit:
            where.append(f"{dimension} IS NULL")
        elif dimension in f.columns:
            where.append(f"{dimension} = ANY(%s)")
            params.append(f.columns[dimension])
        else:
            clause, values_params = _rollup_where(start, end, f.access_trail)
            where.append(
                f"{dimension} = ANY(ARRAY(SELECT DISTINCT {dimension} FROM analytics_rollup_cube "
                f"WHERE kept = {bit} AND {clause}))"
            )
            params += values_params
    where.append("trail = ANY(%s)")
    params.append([False] if not f.access_trail else [False, True])
    clause, range_params = _rollup_where(start, end, True)
    where.append(clause)
    params += range_params
    selected = "NULL, bucket" if group == "bucket" else f"{group}, NULL::timestamptz"
    sql = f"SELECT %s, {selected}, sum(count) FROM analytics_rollup_cube WHERE {' AND '.join(where)} GROUP BY {group}"
    return sql, ["series" if group == "bucket" else group, *params]


def _from_cube(f: EventFilter, interval: str, sets: list[str]) -> tuple[dict, list]:
    """From the daily counts per combination of values, for whole days: (counts, the edges left to the facts).
    A set X reads the cuboid of the filtered dimensions and X; the series (by day) that of the filtered ones."""
    start, end, edges = _split(f, day_floor, DAY)
    filtered_bits = sum(CUBE_BITS[d] for d in _filtered_dimensions(f))
    pieces, params = [], []
    for name in sets:
        if name == "series":
            sql, piece_params = _cube_piece(f, filtered_bits, "bucket", start, end)
        else:
            sql, piece_params = _cube_piece(f, filtered_bits | CUBE_BITS[name], name, start, end)
        pieces.append(sql)
        params += piece_params
    out: dict[str, list] = {name: [] for name in sets}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(pieces), params)
        for name, value, bucket, n in cursor.fetchall():
            if name == "source" and value == "":
                value = None  # the cube's '' is the events without a source
            out[name].append(((bucket,) if name == "series" else (value,), int(n)))
    return out, edges


def _month_pieces(table_days: str, table_months: str, low: datetime | None, high: datetime | None) -> list:
    """Whole days [low, high) as signed pieces (table, low, high, sign): whole months from the monthly table, the days
    beside them from the daily one, and days filling most of a month as that month less the other days (fewer rows)."""
    month_low, month_high = low and month_ceil(low), high and month_floor(high)
    if low and high and month_low >= month_high:  # no whole month inside: the days of one month or two
        if month_floor(low) != month_floor(high - DAY):
            return [*_month_pieces(table_days, table_months, low, month_ceil(low)),
                    *_month_pieces(table_days, table_months, month_ceil(low), high)]  # fmt: skip
        month = month_floor(low)
        following = month_ceil(month + DAY)
        if (high - low) * 2 > following - month:
            return [
                (table_months, month, following, 1),
                (table_days, month, low, -1),
                (table_days, high, following, -1),
            ]
        return [(table_days, low, high, 1)]
    pieces = [(table_months, month_low, month_high, 1)]
    if low and low != month_low:
        pieces += _month_pieces(table_days, table_months, low, month_low)
    if high and high != month_high:
        pieces += _month_pieces(table_days, table_months, month_high, high)
    return [piece for piece in pieces if piece[1] is None or piece[2] is None or piece[1] < piece[2]]


def _from_actors(f: EventFilter, interval: str) -> tuple[dict, list]:
    """Actors from the monthly and daily counts for the whole days of the range (see _month_pieces): (counts, the
    edges left to the facts). From one table alone, with no edge, only the top ones are read. Filtered on one
    dimension: the counts per actor and value of its values."""
    start, end, edges = _split(f, day_floor, DAY)
    dimensions = _filtered_dimensions(f)
    days, months = "analytics_rollup_actors", "analytics_rollup_actor_months"
    of_values, of_values_params = "", []
    if dimensions:
        days, months = "analytics_rollup_actor_values", "analytics_rollup_actor_value_months"
        of_values, of_values_params = (
            " AND dimension = %s AND value = ANY(%s)",
            [dimensions[0], f.columns[dimensions[0]]],
        )
    if "actor_type" in f.columns:
        of_values += " AND actor_type = ANY(%s)"
        of_values_params = [*of_values_params, f.columns["actor_type"]]
    pieces = _month_pieces(days, months, start, end)
    sqls, params = [], []
    for table, low, high, sign in pieces:
        clause, piece_params = _rollup_where(low, high, f.access_trail)
        sqls.append(
            f"SELECT actor_id, actor_type, {sign} * sum(count) AS n FROM {table} "
            f"WHERE {clause}{of_values} GROUP BY 1, 2"
        )
        params += piece_params + of_values_params
    sql = " UNION ALL ".join(sqls)
    if len(pieces) == 1 and not edges:
        sql += ' ORDER BY n DESC, actor_id COLLATE "C", actor_type COLLATE "C" LIMIT %s'
        params.append(TOP_ACTORS)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        out = {"actor": [((actor_id, actor_type), int(n)) for actor_id, actor_type, n in cursor.fetchall()]}
    return out, edges


def _events_relation(f: EventFilter) -> tuple[str, list]:
    qs = filtered(f).order_by().values("occurred_at", *DIMENSIONS, "actor_id", "actor_type")
    sql, params = qs.query.sql_with_params()
    return sql, list(params)


def _top(rows: list, n: int) -> list:
    return sorted(rows, key=lambda r: (-r[1], tuple("" if v is None else str(v) for v in r[0])))[:n]


def _series(rows: list, f: EventFilter, interval: str) -> list[dict]:
    counts = {key[0]: n for key, n in rows}
    step = INTERVALS[interval]
    if f.time_from:
        first = _floor(f.time_from, interval)
        last = _floor((f.time_to - timedelta(microseconds=1)) if f.time_to else timezone.now(), interval)
        last = max([last, *counts])
    elif counts:
        first, last = min(counts), max(counts)
    else:
        return []
    if (last - first) / step >= MAX_BUCKETS:  # no `from` and a long history: the buckets with events only
        return [{"start": t, "count": counts[t]} for t in sorted(counts)]
    out, t = [], first
    while t <= last:
        out.append({"start": t, "count": counts.get(t, 0)})
        t += step
    return out


def log_stats(f: EventFilter, *, interval: str, use_rollups: bool = True) -> dict:
    """Statistics of the current tenant's events matching `f` (its access_trail set from the audience)."""
    plan = stats_plan(f, interval, use_rollups=use_rollups)
    sources = ("values", "cube", "actors", "actor_values", "facts", "events")
    wanted: dict[str, list[str]] = {name: [] for name in sources}
    wanted[plan.series].append("series")
    wanted[plan.dimensions].extend(DIMENSIONS)
    wanted[plan.actors].append("actor")
    parts: list[tuple[dict, int]] = []  # (counts, sign)
    edges: dict[tuple, list[str]] = {}  # (low, high, sign) -> the sets the facts count there

    def rolled(counted: tuple[dict, list], sets: list[str]) -> None:
        out, its_edges = counted
        parts.append((out, 1))
        for edge in its_edges:
            names = edges.setdefault(edge, [])
            names += [name for name in sets if name not in names]

    snapshot = not connection.in_atomic_block  # a caller's transaction keeps its isolation
    with transaction.atomic(), connection.cursor() as cursor:
        if snapshot:
            # One snapshot for every table read (rollups and facts are written together, and a piece may be taken
            # away from another); memory for the grouping of a broad question.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        if wanted["values"]:
            rolled(_from_values(f, interval, wanted["values"]), wanted["values"])
        if wanted["cube"]:
            rolled(_from_cube(f, interval, wanted["cube"]), wanted["cube"])
        if plan.less:  # the rollups counted every actor type: the others' facts over the ranges they read go
            types = [t for t in ActorType.values if t not in f.columns["actor_type"]]
            others = replace(f, columns={**f.columns, "actor_type": types})
            for source, floor, unit in (("values", hour_floor, HOUR), ("cube", day_floor, DAY)):
                if wanted[source]:
                    start, end, _ = _split(f, floor, unit)
                    read = replace(others, time_from=start, time_to=end)
                    parts.append((_from_facts(read, interval, wanted[source]), -1))
        if wanted["actors"] or wanted["actor_values"]:
            rolled(_from_actors(f, interval), ["actor"])
        for (low, high, sign), sets in edges.items():
            parts.append((_from_facts(replace(f, time_from=low, time_to=high), interval, sets), sign))
        if wanted["facts"]:
            parts.append((_from_facts(f, interval, wanted["facts"], top_actors=plan.actors == "facts"), 1))
        if wanted["events"]:
            relation, params = _events_relation(f)
            parts.append((_grouped(relation, params, time_col="occurred_at", count="count(*)", interval=interval,
                                   sets=wanted["events"]), 1))  # fmt: skip
    merged: dict[str, Counter] = {name: Counter() for name in ("series", *DIMENSIONS, "actor")}
    for part, sign in parts:
        for name, rows in part.items():
            for key, n in rows:
                merged[name][key] += sign * n
    results = {name: [(key, n) for key, n in counts.items() if n] for name, counts in merged.items()}
    series = _series(results["series"], f, interval)
    out = {
        "interval": interval,
        "from": f.time_from,
        "to": f.time_to,
        "total": sum(n for _, n in results["series"]),
    }
    for name in DIMENSIONS:
        out[f"by_{name}"] = [{"value": key[0], "count": n} for key, n in _top(results[name], TOP_VALUES)]
    out["top_actors"] = [
        {"actor_id": key[0], "actor_type": key[1], "count": n} for key, n in _top(results["actor"], TOP_ACTORS)
    ]
    out["series"] = series
    return out


# ---- API ----


class StatsValueCount(serializers.Serializer):
    value = serializers.CharField(allow_null=True, help_text="The value (a source may be null: events without one)")
    count = serializers.IntegerField()


class StatsActorCount(serializers.Serializer):
    actor_id = serializers.CharField()
    actor_type = serializers.CharField(help_text="user, service or system")
    count = serializers.IntegerField()


class StatsBucket(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Start of the bucket (UTC); it covers [start, start + interval)")
    count = serializers.IntegerField()


class LogStats(serializers.Serializer):
    interval = serializers.ChoiceField(choices=list(INTERVALS), help_text="The series' bucket width")
    from_ = serializers.DateTimeField(allow_null=True, help_text="The `from` filter, if given")
    to = serializers.DateTimeField(allow_null=True, help_text="The `to` filter, if given")
    total = serializers.IntegerField(help_text="Events matching the filters")
    by_action = StatsValueCount(many=True, help_text=f"Top {TOP_VALUES} actions, most frequent first")
    by_severity = StatsValueCount(many=True, help_text="Severities, most frequent first")
    by_resource_type = StatsValueCount(many=True, help_text=f"Top {TOP_VALUES} resource types")
    by_source = StatsValueCount(many=True, help_text=f"Top {TOP_VALUES} sources (null: events without a source)")
    top_actors = StatsActorCount(many=True, help_text=f"Top {TOP_ACTORS} actors")
    series = StatsBucket(many=True, help_text="Counts per bucket, oldest first; empty buckets included between `from` "
                     "(or the first event) and `to` (or now)")  # fmt: skip

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class LogStatsView(APIView):
    @extend_schema(
        operation_id="logs_stats",
        description="Totals by action, severity, resource type, source, top actors and a time series, under the "
        "list's filters. Users and read keys do not count the access trail.",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter(
                "interval",
                str,
                enum=list(INTERVALS),
                description="Series bucket width; default from the time range: minute up to 6 hours, hour up to "
                f"14 days, else day. At most {MAX_BUCKETS} buckets; minute needs `from`.",
            ),
        ],
        responses={200: LogStats, **error_responses(400, 401, 403)},
        tags=["logs"],
    )
    def get(self, request):
        f, extra = parse_filters(request.query_params, allowed_extra={"interval"})
        f.access_trail = audience_of(request.auth).access_trail
        interval = interval_pick(f, extra.get("interval"))
        return Response(log_stats(f, interval=interval))
