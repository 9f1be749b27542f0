"""Benchmark of the audit-log service against raw PostgreSQL on this machine (SPEC "Targets").

    .venv/bin/python bench/run.py [--events 1000000] [--duration 20] [--connections 64] [--rate 1000] [--port 8100]
    .venv/bin/python bench/run.py --ingest-only   # only the ingest benchmarks (no data set needed)

1. Sets up Django and the `bench` tenant (created when missing) with fresh ingest and read keys,
   revoked again at the end.
2. Tops the tenant up to --events synthetic events (COPY; repeat runs load only what is missing).
3. Starts uvicorn as scripts/run.sh does, and stops it at the end, on error or Ctrl-C.
4. Measures, each next to a raw psycopg baseline of the same rows or SQL from the same run:
   single-event POST, closed loop (wrk, the maximum rate) and open loop (bench/paced.py, a constant --rate,
   latency from each request's scheduled time) against INSERT-per-commit, bulk POST against COPY (both into schema
   bench_baseline, built from the migration's SQL), and first pages of search over HTTP against
   the SQL the service runs. The rows the ingest benchmarks add are deleted before the search, so
   the data set keeps its size.
5. Prints a Markdown report and writes it to bench/results/latest.md.
"""

import argparse
import random
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import orjson

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project root, whence `bench` is a package
from bench.context import RESULTS, django_setup  # noqa: E402

django_setup()  # before the modules that import the project's models
from bench import baseline, dataset, live, logstats, reads, report, sealing, writes  # noqa: E402
from bench import exports as export_bench  # noqa: E402
from bench.data import EventFactory, body_of, copy_text, now, spread_times  # noqa: E402
from bench.server import APPLICATION, Server  # noqa: E402
from bench.tenant import bench_tenant  # noqa: E402

SINGLE_POOL = 2_000  # distinct events wrk cycles through
BULK_BATCH = 1_000
INSERT_THREADS = 8
_started = time.monotonic()


def log(message: str):
    print(f"[{time.monotonic() - _started:6.0f} s] {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the tenant for the search runs")
    parser.add_argument("--duration", type=int, default=20, help="seconds of single-event ingest (and baseline)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (2 threads)")
    parser.add_argument("--rate", type=int, default=1000, help="single events per second of the open-loop run")
    parser.add_argument("--paced-connections", type=int, default=64, help="connections of the open-loop client")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=4, help="uvicorn worker processes")
    parser.add_argument("--bulk-events", type=int, default=100_000, help="events sent in bulk (1,000 per request)")
    parser.add_argument("--bulk-clients", type=int, default=4, help="concurrent bulk clients and COPY connections")
    parser.add_argument("--search-requests", type=int, default=200, help="timed requests per search query")
    parser.add_argument("--live-clients", type=int, default=100, help="WebSocket clients of the live tail (0: skip)")
    parser.add_argument("--live-rate", type=int, default=1000, help="events per second posted during the live run")
    parser.add_argument(
        "--live-workers",
        type=int,
        default=2,
        help="uvicorn workers of the live run (a WebSocket process of its own, as in docker-compose)",
    )
    parser.add_argument("--sealing-rounds", type=int, default=3, help="rounds of bench/sealing.py (0: skip)")
    parser.add_argument("--live-only", action="store_true", help="measure only the live tail (no data set needed)")
    parser.add_argument("--ingest-only", action="store_true", help="measure only ingest (no data set needed)")
    parser.add_argument("--app", default=APPLICATION, help="ASGI application of the ingest and search runs")
    args = parser.parse_args()
    if args.connections < 2 or args.bulk_events < BULK_BATCH:
        parser.error(f"--connections needs at least 2 and --bulk-events at least {BULK_BATCH}.")
    return args


def fresh_rows(count: int, seed: int) -> list[dict]:
    """Events of the last few minutes, as clients send them."""
    end = now()
    times = spread_times(end - timedelta(minutes=5), end, count, random.Random(seed))
    return EventFactory(seed).rows(times)


def _server_cpu(server: Server, measure, events_of) -> dict:
    """measure()'s result, with the server's CPU time per event it stored (ms)."""
    before = server.cpu_seconds()
    result = measure()
    used = server.cpu_seconds() - before
    return {**result, "server_cpu_ms_per_event": used * 1000 / max(events_of(result), 1)}


def measure_ingest(args, tenant, server: Server) -> dict:
    rows = fresh_rows(SINGLE_POOL, seed=1)
    bodies_path = RESULTS / "single_bodies.ndjson"
    log(f"single POST /api/v1/logs: wrk, {args.connections} connections, {args.duration} s")
    single = _server_cpu(server, lambda: writes.single_rate(
        args.port, tenant.ingest_key, [body_of(r) for r in rows], schema=tenant.schema,
        connections=args.connections, duration=args.duration, bodies_path=bodies_path,
    ), lambda result: result["stored"])  # fmt: skip
    time.sleep(2)  # the closed loop's last requests and connections settle
    log(f"single POST /api/v1/logs: open loop, {args.rate}/s, {args.duration} s, {args.paced_connections} connections")
    paced = _server_cpu(server, lambda: writes.paced_rate(
        args.port, tenant.ingest_key, schema=tenant.schema, rate=args.rate, duration=args.duration,
        connections=args.paced_connections, bodies_path=bodies_path,
    ), lambda result: result["stored"])  # fmt: skip
    log(f"baseline: INSERT per commit, {INSERT_THREADS} connections, {args.duration} s")
    insert = baseline.insert_rate(rows, threads=INSERT_THREADS, duration=args.duration)

    rows = fresh_rows(args.bulk_events - args.bulk_events % BULK_BATCH, seed=2)
    batches = [rows[i : i + BULK_BATCH] for i in range(0, len(rows), BULK_BATCH)]
    bodies = [orjson.dumps({"events": [body_of(r) for r in batch]}) for batch in batches]
    log(f"bulk POST /api/v1/logs/bulk: {len(rows):,} events, {args.bulk_clients} clients")
    bulk = _server_cpu(server, lambda: writes.bulk_rate(
        args.port, tenant.ingest_key, bodies, events_per_body=BULK_BATCH, clients=args.bulk_clients
    ), lambda result: len(rows) - BULK_BATCH * len(result["failures"]))  # fmt: skip
    log(f"baseline: COPY, {args.bulk_clients} connections")
    copy = baseline.copy_rate([copy_text(b) for b in batches], rows_per_batch=BULK_BATCH, clients=args.bulk_clients)
    return {"single": single, "paced": paced, "insert": insert, "bulk": bulk, "copy": copy}


def measure_live(args, tenant) -> list[dict]:
    """The live tail with one message per event (the default), then with batched `events` messages."""
    results = []
    for batch in (False, True):
        log(
            f"live tail: {args.live_workers} uvicorn workers, {args.live_clients} clients, {args.live_rate} events/s, "
            f"10 s, batch={batch}"
        )
        results.append(
            live.measure(
                args.port,
                tenant.read_key,
                tenant.ingest_key,
                clients=args.live_clients,
                rate=args.live_rate,
                batch=batch,
            )  # fmt: skip
        )
    return results


def live_only(args):
    """--live-only: just the live tail, against the bench tenant; its table goes to results/live.md."""
    tenant = bench_tenant()
    try:
        with Server(args.port, args.live_workers, RESULTS / "uvicorn-live.log") as server:
            started = now()
            results = measure_live(args, tenant)
            dataset.delete_received_since(tenant.schema, started)
        errors = server.error_lines()
    finally:
        tenant.revoke_keys()
    text = "\n".join(["# Live tail", "", f"Machine: {report.machine()}.", "", *report.live_table(results), "",
                      *(f"- server: {line}" for line in errors)])  # fmt: skip
    (RESULTS / "live.md").write_text(text)
    print(text)


def ingest_only(args):
    """--ingest-only: just the ingest benchmarks, against the bench tenant as it is; the table goes to
    results/ingest.md."""
    tenant = bench_tenant()
    try:
        baseline.create_schema()
        with Server(args.port, args.workers, RESULTS / "uvicorn.log", args.app) as server:
            started = now()
            ingest = measure_ingest(args, tenant, server)
            dataset.delete_received_since(tenant.schema, started)
        errors = server.error_lines()
    finally:
        tenant.revoke_keys()
    run = report.Run(machine=report.machine(), settings=_settings(args, None, 0), searches=[], server_errors=errors,
                     duration_s=time.monotonic() - _started, **ingest)  # fmt: skip
    text = "\n".join(["# Ingest", "", f"Machine: {run.machine}.", f"Run: {run.settings}.", "",
                      *report.ingest_table(run), "", *report.server_lines(run), ""])  # fmt: skip
    (RESULTS / "ingest.md").write_text(text)
    print(text)


def _settings(args, events: int | None, loaded: int) -> str:
    tenant_size = f"{events:,} events in the tenant ({loaded:,} loaded by this run); " if events is not None else ""
    return (
        f"{tenant_size}uvicorn {args.workers} workers ({args.app}); wrk 2 threads x {args.connections} connections x "
        f"{args.duration} s; open loop {args.rate}/s x {args.duration} s over {args.paced_connections} connections; "
        f"baseline {INSERT_THREADS} connections; bulk {args.bulk_events:,} events in requests of {BULK_BATCH:,} "
        f"from {args.bulk_clients} clients, COPY from as many connections"
    )


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the server, revoke the keys
    RESULTS.mkdir(exist_ok=True)
    if args.live_only:
        return live_only(args)
    if args.ingest_only:
        return ingest_only(args)
    machine = report.machine()
    tenant = bench_tenant()
    try:
        log(f"data set: topping tenant `{tenant.tenant.slug}` up to {args.events:,} events")
        loaded = dataset.load_missing(tenant.schema, args.events)
        if loaded:
            dataset.vacuum_analyze(tenant.schema)
        baseline.create_schema()
        log(f"server: uvicorn, {args.workers} workers, port {args.port}")
        with Server(args.port, args.workers, RESULTS / "uvicorn.log", args.app) as server:
            ingest_started = now()
            ingest = measure_ingest(args, tenant, server)
            log("clean-up: deleting the ingested rows, VACUUM ANALYZE")
            dataset.delete_received_since(tenant.schema, ingest_started)
            dataset.vacuum_analyze(tenant.schema)
            events = dataset.event_count(tenant.schema)
            log(f"search: {events:,} events, {args.search_requests} requests per query")
            searches = reads.measure(tenant, args.port, args.search_requests)
            log("statistics: GET /api/v1/logs/stats beside the event-table aggregate")
            stats_rollups, stats = logstats.measure(tenant, args.port, args.search_requests)
            log("streamed export: GET /api/v1/logs/export of the whole tenant, beside COPY of the same rows")
            exported = export_bench.measure(tenant, server)
        server_errors = server.error_lines()
        sealed = None
        if args.sealing_rounds:
            log(f"sealing lag: bench/sealing.py, {args.sealing_rounds} rounds, in tenant `bench-sealing`")
            sealed = sealing.measure(rounds=args.sealing_rounds, log=log)
        live_result = None
        if args.live_clients:
            with Server(args.port, args.live_workers, RESULTS / "uvicorn-live.log") as server:
                live_result = measure_live(args, tenant)
                dataset.delete_received_since(tenant.schema, ingest_started)
            server_errors += server.error_lines()
    finally:
        tenant.revoke_keys()
    settings = (
        f"{_settings(args, events, loaded)}; search {args.search_requests} requests per query after "
        f"{reads.WARMUP} warm-up, at most {reads.MAX_SECONDS} s per query and side; live tail on uvicorn "
        f"{args.live_workers} workers"
    )
    run = report.Run(
        machine=machine, settings=settings, searches=searches, live=live_result, server_errors=server_errors,
        stats=stats, stats_rollups=stats_rollups, exports=exported, sealing=sealed,
        duration_s=time.monotonic() - _started, **ingest,
    )  # fmt: skip
    text = report.render(run)
    (RESULTS / "latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("Interrupted: the server is stopped and the keys are revoked.")
