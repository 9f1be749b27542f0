"""The machine description and the Markdown report of a run."""

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import exports as export_bench
from . import logstats
from .context import ROOT, connect

TARGET_EVENTS_PER_S = 1_000
TARGET_P99_MS = 50
TARGET_BULK_RATIO = 0.5
TARGET_SEARCH_P95_MS = 50


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _commit() -> str:
    changed = _git("status", "--porcelain", "--untracked-files=no")
    return (_git("rev-parse", "--short", "HEAD") or "unknown") + (" with uncommitted changes" if changed else "")


def machine() -> str:
    with connect() as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        shared_buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc), {_cpu_model()}, {_ram_gib():.1f} GiB RAM; "
        f"PostgreSQL {version} (shared_buffers {shared_buffers}); commit {_commit()}"
    )


@dataclass
class Run:
    """What a run measured, as collected by bench/run.py."""

    machine: str
    settings: str
    single: dict
    paced: dict
    insert: dict
    bulk: dict
    copy: dict
    searches: list
    live: list[dict] | None = None
    server_errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    stats: list = field(default_factory=list)  # bench.logstats.StatsCase
    stats_rollups: dict | None = None
    exports: list[dict] | None = None  # bench.exports.measure
    sealing: dict | None = None  # bench.sealing.measure


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _ms(*values: float) -> str:
    return " / ".join(_n(v, 1) for v in values) + " ms"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _cpu_row(name: str, result: dict) -> list[str]:
    if "server_cpu_ms_per_event" not in result:
        return []
    cpu = result["server_cpu_ms_per_event"]
    return [f"| {name}, server CPU per event (all web processes) | {cpu:.3f} ms | | | | |"]


def _paced_rows(p: dict) -> list[str]:
    rate = f"{_n(p['rate'])}/s x {_n(p['duration_s'])} s"
    sustained = p["achieved_per_s"] >= TARGET_EVENTS_PER_S * 0.99 and p["ok"] == p["scheduled"]
    clean = p["non2xx"] == 0 and p["errors"] == 0 and p["timeouts"] == 0
    return [
        f"| single, open loop at {rate} ({p['connections']} connections): answered per s | "
        f"{_n(p['achieved_per_s'])} ({_n(p['ok'])} of {_n(p['scheduled'])}) | | | {_n(TARGET_EVENTS_PER_S)}/s "
        f"sustained | {_met(p['rate'] >= TARGET_EVENTS_PER_S and sustained)} |",
        f"| single, open loop, latency from the scheduled time p50 / p90 / p99 / p99.9 / max "
        f"| {_ms(p['p50_ms'], p['p90_ms'], p['p99_ms'], p['p999_ms'], p['max_ms'])} | | | p99 < {TARGET_P99_MS} ms "
        f"| {_met(p['rate'] >= TARGET_EVENTS_PER_S and sustained and p['p99_ms'] < TARGET_P99_MS)} |",
        f"| single, open loop, non-2xx / errors / unanswered | {p['non2xx']} / {p['errors']} / {p['timeouts']} "
        f"| | | 0 | {_met(clean)} |",
        f"| single, open loop, rows stored / 2xx answered | {_n(p['stored'])} / {_n(p['ok'])} | | | equal | |",
        *_cpu_row("single, open loop", p),
        f"| single, open loop client: CPU (cores) / start lag p99 / requests that waited for a connection "
        f"| {p['client_cpu_cores']:.2f} / {_n(p['client_late_p99_ms'], 1)} ms / {_n(p['waited_for_connection'])} "
        "| | | a small part of one core | |",
    ]


def ingest_table(run: Run) -> list[str]:
    s, i, b, c = run.single, run.insert, run.bulk, run.copy
    clean = s["non2xx"] == 0 and s["socket_errors"] == 0 and s["timeouts"] == 0
    bulk_ratio = b["events_per_s"] / c["events_per_s"]
    return [
        "| benchmark | service | baseline (raw psycopg, same run) | service / baseline | target | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| single `POST /api/v1/logs`, closed loop (wrk), the most events/s | {_n(s['events_per_s'])} "
        f"| {_n(i['events_per_s'])} (INSERT + commit) | {s['events_per_s'] / i['events_per_s']:.3f} "
        f"| >= {_n(TARGET_EVENTS_PER_S)} | {_met(s['events_per_s'] >= TARGET_EVENTS_PER_S)} |",
        f"| single, closed loop, latency p50 / p99 (queueing behind the other connections) "
        f"| {_ms(s['p50_ms'], s['p99_ms'])} | {_ms(i['p50_ms'], i['p99_ms'])} per INSERT | | see the open loop | |",
        f"| single, closed loop, non-2xx / socket errors / timeouts | {s['non2xx']} / {s['socket_errors']} "
        f"/ {s['timeouts']} | | | 0 | {_met(clean)} |",
        f"| single, closed loop, database connections: peak open / sessions opened per request "
        f"| {s['db_peak_connections']} / {s['db_sessions_per_request']:.2f} | | | ~0 sessions per request | |",
        f"| single, closed loop, rows stored / 2xx answered | {_n(s['stored'])} / {_n(s['responses'] - s['non2xx'])} "
        "| | | equal, + up to one cut-off request per connection | |",
        *_cpu_row("single, closed loop", s),
        *(_paced_rows(run.paced) if run.paced else []),
        f"| bulk `POST /api/v1/logs/bulk`, events/s | {_n(b['events_per_s'])} "
        f"| {_n(c['events_per_s'])} (COPY, 1,000 rows per transaction) | {bulk_ratio:.3f} "
        f"| >= {TARGET_BULK_RATIO} x COPY | {_met(bulk_ratio >= TARGET_BULK_RATIO and not b['failures'])} |",
        f"| bulk, latency p50 / p99 per 1,000 events | {_ms(b['p50_ms'], b['p99_ms'])} "
        f"| {_ms(c['p50_ms'], c['p99_ms'])} per COPY | | | |",
        f"| bulk, failed requests | {len(b['failures'])} | | | 0 | {_met(not b['failures'])} |",
        *_cpu_row("bulk", b),
    ]


def _search_table(run: Run) -> list[str]:
    lines = [
        "| query | matches | HTTP p50 | HTTP p95 | SQL p50 | SQL p95 | samples | p95 < 50 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in run.searches:
        h, q = case.http, case.sql
        failed = f" ({len(h['failures'])} failed)" if h["failures"] else ""
        lines.append(
            f"| {case.name} | {_n(case.matches)} | {_n(h['p50_ms'], 1)} | {_n(h['p95_ms'], 1)} "
            f"| {_n(q['p50_ms'], 1)} | {_n(q['p95_ms'], 1)} | {h['count']} / {q['count']}{failed} "
            f"| {_met(h['p95_ms'] < TARGET_SEARCH_P95_MS and not h['failures'])} |"
        )
    return lines


def _plans(run: Run) -> list[str]:
    slow = [case for case in run.searches if case.plan]
    if not slow:
        return [f"No query had an HTTP p95 over {TARGET_SEARCH_P95_MS} ms."]
    lines = [f"Queries with an HTTP p95 over {TARGET_SEARCH_P95_MS} ms (full plans in bench/results/explain-*.txt):"]
    for case in slow:
        lines += ["", f"{case.name}:", "", "```", *case.plan, "```"]
    return lines


def sealing_table(result: dict | None) -> list[str]:
    if not result:
        return ["Not measured (--sealing-rounds 0)."]
    lag, verify = result["sealing_lag_s"], result["verify"]
    without, with_ = result["paced_without_sealer"], result["paced_with_sealer"]
    lag_met = lag["p99"] is not None and lag["p99"] < 2
    latency = " / ".join(_ms(side["write_p50_ms"], side["write_p99_ms"]) for side in (without, with_))
    flat = f"{_n(result['flat_out_rate_without_sealer'])} / {_n(result['flat_out_rate_with_sealer'])}"
    return [
        "| benchmark | measured | target | met |",
        "| --- | ---: | --- | --- |",
        f"| sealing lag, received to sealed, p50 / p99 / max ({_n(lag['events'])} events) "
        f"| {lag['p50']} / {lag['p99']} / {lag['max']} s | p99 < 2 s | {_met(lag_met)} |",
        f"| paced bulk writes without / with the sealer, events/s | {_n(without['rate'])} / {_n(with_['rate'])} | | |",
        f"| paced bulk writes without / with the sealer, write p50 / p99 | {latency} "
        "| sealing never slows ingestion | |",
        f"| writes flat out without / with the sealer, events/s | {flat} | | |",
        f"| sealer process CPU per 1,000 events | {result['sealer_process_cpu_s_per_1000_events']} s | | |",
        f"| verification of this run's events: events, events/s | {_n(verify['events'])}, "
        f"{_n(verify['events_per_s'] or 0)}/s | chain intact | {_met(verify['ok'])} |",
    ]


def live_table(runs: list[dict] | None) -> list[str]:
    if not runs:
        return ["Not measured (--live-clients 0)."]
    lines = ["| messages | benchmark | measured | target | met |", "| --- | --- | ---: | --- | --- |"]
    for live in runs:
        mode = "`events` (batch=true)" if live["batch"] else "`event` (default)"
        lines += [
            f"| {mode} | events posted, events/s | {_n(live['events'])} at {_n(live['rate'])}/s | 1,000/s | |",
            f"| {mode} | connected clients (filter `source=<run>`) | {live['clients']} | 100 | |",
            f"| {mode} | received_at to client receipt, p50 / p99 | {_ms(live['p50_ms'], live['p99_ms'])} "
            f"| p99 < 250 ms | {_met(live['p99_ms'] < 250)} |",
            f"| {mode} | events lost (summed over clients) / delivered twice | {live['lost']} / "
            f"{live['duplicates']} | 0 / 0 | {_met(live['lost'] == 0 and live['duplicates'] == 0)} |",
            f"| {mode} | clients told `lagged` and closed (4008); they do not resume here | {live['lagged']} | 0 "
            f"| {_met(live['lagged'] == 0)} |",
        ]
    return lines


def _failures(run: Run) -> list[str]:
    """The first failed answer of each benchmark that had any."""
    failed = [("bulk", run.bulk["failures"])] + [(case.name, case.http["failures"]) for case in run.searches]
    failed += [(f"stats, {case.name}", case.http["failures"]) for case in run.stats]
    return [f"- {name}: {len(failures)} failed, first: {failures[0]}" for name, failures in failed if failures]


def server_lines(run: Run) -> list[str]:
    if not run.server_errors:
        return ["No errors in the server's output (bench/results/uvicorn.log)."]
    shown = [f"    {line}" for line in run.server_errors[:10]]
    return [f"{len(run.server_errors)} error lines in bench/results/uvicorn.log; the first:", "", *shown]


def render(run: Run) -> str:
    minutes, seconds = divmod(round(run.duration_s), 60)
    lines = [
        "# Benchmark",
        "",
        f"Machine: {run.machine}.",
        f"Run: {run.settings}; took {minutes} min {seconds} s.",
        "",
        "## Ingest",
        "",
        *ingest_table(run),
        "",
        "## Search, first page (limit 50), sequential requests",
        "",
        *_search_table(run),
        "",
        "## Statistics (`GET /api/v1/logs/stats`), sequential requests",
        "",
        *logstats.table(run.stats_rollups, run.stats),
        "",
        "## Streamed export (`GET /api/v1/logs/export`), whole tenant and its newest tenth",
        "",
        *export_bench.table(run.exports),
        "",
        "## Sealing (hash chain), bench/sealing.py",
        "",
        *sealing_table(run.sealing),
        "",
        "## Live tail (WebSocket), all clients receiving every event",
        "",
        *live_table(run.live),
        "",
        "## Slow queries: EXPLAIN (ANALYZE, BUFFERS)",
        "",
        *_plans(run),
        "",
        "## Errors",
        "",
        *_failures(run),
        *server_lines(run),
        "",
    ]
    return "\n".join(lines)
