"""Statistics: GET /api/v1/logs/stats over HTTP (read key, sequential keep-alive requests) beside the same
statistics counted from the event table by SQL run directly (the aggregate the service falls back to).

The cases cover the overview of a period, the structured filters (action, severity, resource type, source, alone
and combined, over ranges with partial days, an hourly series under a filter), actors, and the filters only the
event table answers (tag, full text, metadata); each row says where its series, its by_* lists and its top actors
were counted (analytics.stats.stats_plan). Slow cases get fewer samples (at most MAX_SECONDS per case and side).

The data set is COPY-loaded, past the relay, so the rollups are rebuilt first when they do not add up to the
event count (analytics.rollups.rollups_rebuild), and the time that took is reported.

Standalone: .venv/bin/python bench/logstats.py [--port 8100] [--requests 200] (starts its own server).
(bench/stats.py is the latency helper; this module is the statistics benchmark.)
"""

import http.client
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    from bench.context import django_setup

    django_setup()

import orjson  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from analytics.rollups import RELAY_HANDLER_NAME, rollups_rebuild  # noqa: E402
from analytics.stats import interval_pick, log_stats, stats_plan  # noqa: E402
from bench.context import connect  # noqa: E402
from bench.data import (  # noqa: E402
    COMMON_WORD,
    RARE_WORD,
    SEARCH_ACTION,
    SEARCH_ACTOR,
    SEARCH_REGION,
    SEARCH_SOURCE,
    SEARCH_TAG,
)
from bench.stats import Latencies  # noqa: E402
from search.filters import parse_filters  # noqa: E402

TARGET_P95_MS = 200
WARMUP = 2
MAX_SECONDS = 20  # per case and side: an aggregate over millions of events gets a few samples


@dataclass
class StatsCase:
    name: str
    params: dict
    counted_from: str = ""  # where the series, the by_* lists and the top actors were counted
    total: int = 0
    http: dict = field(default_factory=dict)
    sql: dict = field(default_factory=dict)


def _hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def cases() -> list[StatsCase]:
    now = datetime.now(UTC)
    week, month, day = _hour(now - timedelta(days=7)), _hour(now - timedelta(days=30)), _hour(now - timedelta(days=8))
    since = {"week": week.isoformat(), "month": month.isoformat()}
    midnight = day.replace(hour=0)  # partial days at both ends: most of two days outside the rollups' whole days
    edges = {"from": (midnight - timedelta(days=2) + timedelta(minutes=5)).isoformat(),
             "to": (midnight + timedelta(hours=23, minutes=55)).isoformat()}  # fmt: skip
    return [
        StatsCase("no filter (by day)", {}),
        StatsCase("last 7 days by hour", {"from": since["week"], "interval": "hour"}),
        StatsCase("action", {"action": SEARCH_ACTION}),
        StatsCase("action, broad (READ)", {"action": "READ"}),
        StatsCase("action, 7 days by hour", {"action": SEARCH_ACTION, "from": since["week"], "interval": "hour"}),
        StatsCase("severity=CRITICAL, 30 days", {"severity": "CRITICAL", "from": since["month"]}),
        StatsCase("severity=INFO (broad), 30 days", {"severity": "INFO", "from": since["month"]}),
        StatsCase("source + action, 7 days", {"source": SEARCH_SOURCE, "action": SEARCH_ACTION, "from": since["week"]}),
        StatsCase("resource_type + severity", {"resource_type": "order", "severity": "ERROR,CRITICAL"}),
        StatsCase("source + action, 7 days by hour", {"source": SEARCH_SOURCE, "action": SEARCH_ACTION,
                                                      "from": since["week"], "interval": "hour"}),
        StatsCase("severity + source + resource_type, 30 days", {"severity": "INFO", "source": "web-app",
                                                                 "resource_type": "user", "from": since["month"]}),
        StatsCase("all four dimensions", {"action": "UPDATE,CREATE", "severity": "WARNING", "resource_type": "order",
                                          "source": SEARCH_SOURCE}),
        StatsCase("actor_id", {"actor_id": SEARCH_ACTOR}),
        StatsCase("actor_type=service, 7 days", {"actor_type": "service", "from": since["week"]}),
        StatsCase("actor_type + severity, 30 days", {"actor_type": "user", "severity": "WARNING",
                                                     "from": since["month"]}),
        StatsCase("severity=INFO, partial days at both ends", {"severity": "INFO", **edges}),
        StatsCase("three dimensions, 7 days by hour", {"severity": "INFO", "source": "web-app",
                                                        "resource_type": "user", "from": since["week"],
                                                        "interval": "hour"}),
        StatsCase("actor_id + action", {"actor_id": SEARCH_ACTOR, "action": SEARCH_ACTION}),
        StatsCase("one day by the minute", {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat(),
                                            "interval": "minute"}),
        StatsCase("tag", {"tag": SEARCH_TAG}),
        StatsCase("metadata.region, 7 days", {"metadata.region": SEARCH_REGION, "from": since["week"]}),
        StatsCase("q, rare word", {"q": RARE_WORD}),
        StatsCase("q, common word, 7 days", {"q": COMMON_WORD, "from": since["week"]}),
    ]  # fmt: skip


def _timed(operation, requests: int) -> Latencies:
    """Latencies after WARMUP runs; an operation slower than a second is measured from its first run, and stops
    once MAX_SECONDS have passed."""
    latencies = Latencies()
    deadline = time.monotonic() + MAX_SECONDS
    for index in range(WARMUP + requests):
        started = time.perf_counter()
        operation()
        elapsed = time.perf_counter() - started
        if index >= WARMUP or elapsed > 1:
            latencies.add(elapsed)
        if time.monotonic() > deadline and latencies.count:
            break
    return latencies


def _filter(params: dict):
    query = QueryDict(mutable=True)
    query.update(params)
    f, extra = parse_filters(query, allowed_extra={"interval"})
    f.access_trail = False  # a read key's audience
    return f, interval_pick(f, extra.get("interval"))


def rollups_ensure(schema: str) -> dict:
    """Rebuild the rollups when they do not count every event the relay is done with (events still waiting in
    the outbox are the relay's to count); returns what was found and the time taken."""
    with connect(schema) as conn:
        events = conn.execute("SELECT count(*) FROM ingest_event").fetchone()[0]
        waiting = conn.execute(
            "SELECT count(*) FROM ingest_event e WHERE EXISTS (SELECT 1 FROM ingest_outbox o WHERE o.event_id = e.id "
            "AND NOT (%s = ANY(o.done)))",
            [RELAY_HANDLER_NAME],
        ).fetchone()[0]
        counted = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM analytics_rollup_values WHERE dimension = 'severity'"
        ).fetchone()[0]
        in_cube = conn.execute("SELECT coalesce(sum(count), 0) FROM analytics_rollup_cube WHERE kept = 4").fetchone()[0]
        facts = conn.execute("SELECT count(*) FROM analytics_stats_fact").fetchone()[0]
    result = {"events": events, "waiting": waiting, "rebuilt": False, "seconds": 0.0}
    if events - waiting not in {counted} & {in_cube} & {facts}:
        started = time.monotonic()
        rollups_rebuild()
        result.update(rebuilt=True, seconds=time.monotonic() - started)
    with connect(schema) as conn:
        conn.execute("VACUUM ANALYZE analytics_rollup_values")
        conn.execute("VACUUM ANALYZE analytics_rollup_actors")
        conn.execute("VACUUM ANALYZE analytics_rollup_actor_months")
        conn.execute("VACUUM ANALYZE analytics_rollup_cube")
        for table in ("analytics_stats_fact", "analytics_stats_combination", "analytics_stats_actor"):
            conn.execute(f"VACUUM ANALYZE {table}")
        combinations = conn.execute("SELECT count(*) FROM analytics_stats_combination").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM analytics_rollup_values").fetchone()[0]
        actor_rows = conn.execute("SELECT count(*) FROM analytics_rollup_actors").fetchone()[0]
        cube_rows, cube_days = conn.execute(
            "SELECT count(*), count(DISTINCT bucket) FROM analytics_rollup_cube"
        ).fetchone()
    return {**result, "dimension_rows": rows, "actor_rows": actor_rows, "cube_rows": cube_rows, "cube_days": cube_days,
            "combinations": combinations}  # fmt: skip


def _event_table_sql(f, interval: str) -> str:
    """The SQL of the event-table aggregate for these filters (parameters inlined)."""
    with CaptureQueriesContext(connection) as captured:
        log_stats(f, interval=interval, use_rollups=False)
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().startswith("SELECT")][-1]


def measure(tenant, port: int, requests: int) -> tuple[dict, list[StatsCase]]:
    connection.set_tenant(tenant.tenant)
    try:
        rollups = rollups_ensure(tenant.schema)
        print(f"rollups: {rollups}", flush=True)
        measured = cases()
        headers = {"Authorization": f"Bearer {tenant.read_key}"}
        with connect(tenant.schema, prepare_threshold=None) as raw:
            for case in measured:
                f, interval = _filter(case.params)
                plan = stats_plan(f, interval)
                case.counted_from = f"{plan.series} / {plan.dimensions} / {plan.actors}"
                failures: list[str] = []
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)  # per case: idle ones are closed
                query = urlencode(case.params)

                def get(case=case, query=query, failures=failures, conn=conn):
                    conn.request("GET", f"/api/v1/logs/stats?{query}", headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                    if response.status != 200:
                        failures.append(f"{response.status} {body[:300]!r}")
                    else:
                        case.total = orjson.loads(body)["total"]

                case.http = {**_timed(get, requests).summary(), "failures": failures}
                conn.close()
                sql = _event_table_sql(f, interval)
                case.sql = _timed(lambda sql=sql: raw.execute(sql).fetchall(), requests).summary()
                print(f"{case.name}: {case.counted_from}, HTTP p95 {case.http['p95_ms']:.1f} ms, "
                      f"SQL p95 {case.sql['p95_ms']:.1f} ms", flush=True)  # fmt: skip
    finally:
        connection.set_schema_to_public()
    return rollups, measured


def _n(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def table(rollups: dict | None, measured: list[StatsCase]) -> list[str]:
    if not measured:
        return ["Not measured."]
    lines = []
    if rollups:
        rebuilt = f"rebuilt in {_n(rollups['seconds'])} s" if rollups["rebuilt"] else "already current"
        lines += [
            f"Rollups: {rollups['dimension_rows']:,} rows of hourly counts per value and "
            f"{rollups['actor_rows']:,} rows of daily counts per actor, {rollups['cube_rows']:,} rows of daily counts "
            f"per combination of values (cube, {rollups['cube_days']:,} days), one fact per event over "
            f"{rollups['combinations']:,} combinations of values and actor type, for {rollups['events']:,} events, "
            f"{rollups['waiting']:,} of them still waiting in the relay's outbox, not yet counted ({rebuilt}). "
            "Baseline: the same statistics counted from the event table (one GROUPING SETS aggregate, the "
            "service's fallback), run directly. Counted from: series / by_* lists / top actors, each from `values` "
            "(hourly counts per value), `cube` (daily counts per combination), `actors` / `actor_values` (daily and "
            "monthly counts per actor, and per actor and value), `facts` (one narrow row per event, by combination) "
            "or `events` (the event table); rollups answer whole hours (days), the facts the partial ones at the "
            "range's ends.",
            "",
        ]
    lines += [
        "| query | counted from (series / by_* / actors) | total | HTTP p50 | HTTP p95 | event-table SQL p50 | SQL p95 "
        f"| samples "
        f"| p95 < {TARGET_P95_MS} ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in measured:
        h, q = case.http, case.sql
        failed = f" ({len(h['failures'])} failed)" if h["failures"] else ""
        met = "yes" if h["p95_ms"] < TARGET_P95_MS and not h["failures"] else "**no**"
        shown = "&".join(f"{k}={v}" for k, v in case.params.items()) or "-"
        lines.append(
            f"| {case.name}: `{shown}` | {case.counted_from} | {case.total:,} | {_n(h['p50_ms'])} | {_n(h['p95_ms'])} "
            f"| {_n(q['p50_ms'])} | {_n(q['p95_ms'])} | {h['count']} / {q['count']}{failed} | {met} |"
        )
    return lines


def main():
    import argparse

    from bench.context import RESULTS
    from bench.server import Server
    from bench.tenant import bench_tenant

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    tenant = bench_tenant()
    try:
        RESULTS.mkdir(exist_ok=True)
        with Server(args.port, args.workers, RESULTS / "uvicorn-stats.log"):
            rollups, measured = measure(tenant, args.port, args.requests)
    finally:
        tenant.revoke_keys()
    text = "\n".join(["## Statistics, sequential requests", "", *table(rollups, measured), ""])
    (RESULTS / "stats.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
