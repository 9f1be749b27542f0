"""Sealing lag: events written at a steady rate while the sealer runs as beat runs it.

Reports the p50/p99 of (sealed - received_at), and whether ingestion slowed while sealing: the same paced writes
without and with the sealer (achieved rate, write latency), then writes as fast as one writer goes, without and
with it (throughput), alternated over rounds so that other load on the machine weighs on both alike; last, how
fast verification recomputes the chain.

    .venv/bin/python bench/sealing.py [--rate 500] [--seconds 10] [--rounds 3] [--interval 1.0]

Writes go through the real write path (ingest.services.events_bulk_create: validation, masking, encryption,
outbox) in this process, into a tenant of its own (`bench-sealing`); the sealer is a process of its own that,
every --interval seconds, seals that tenant (ingest.sealing.events_seal, as the beat's sweep and the worker's
task do, less the queue hop). Sealed time is when the sealer's run returned (its last batch committed).
"""

import argparse
import bisect
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.context import ROOT, django_setup  # noqa: E402


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def sealer_main(interval: float, out: str, schema_name: str) -> None:
    """The sealer process: the tenant sealed every `interval` seconds; (time, schema, head) after each run.
    While the file `out`.paused exists, it sweeps nothing."""
    django_setup()
    from django.db import connection
    from django_tenants.utils import get_tenant_model, tenant_context

    from ingest.sealing import chain_head, events_seal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tenants = list(get_tenant_model().objects.filter(schema_name=schema_name))
    with open(out, "w") as log:
        tick = time.monotonic()
        paused = Path(out + ".paused")
        while not stop.is_set():
            for tenant in [] if paused.exists() else tenants:
                with tenant_context(tenant):
                    if events_seal():
                        sealed_at = time.time()
                        log.write(json.dumps([sealed_at, tenant.schema_name, chain_head()["sequence"]]) + "\n")
            log.flush()
            connection.close()
            tick += interval
            stop.wait(max(0.0, tick - time.monotonic()))


class Sealer:
    """`with Sealer(interval):` runs the sealer process for the block, paused until resume(); .runs() gives its
    (time, schema, head) records and .cpu the CPU seconds it used while resumed."""

    def __init__(self, interval: float, schema_name: str):
        self.interval, self.schema_name = interval, schema_name
        self.path = Path(tempfile.mkstemp(prefix="sealing-", suffix=".jsonl")[1])
        self.paused = Path(str(self.path) + ".paused")
        self.process: subprocess.Popen | None = None
        self.cpu = 0.0

    def __enter__(self):
        self.paused.touch()
        script = str(Path(__file__).resolve())
        command = [sys.executable, script, "--sealer", str(self.interval), str(self.path), self.schema_name]
        self.process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        time.sleep(2.0)  # Django set up
        return self

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.paused.unlink(missing_ok=True)

    def resume(self):
        self._cpu_from = self._cpu_seconds()
        self.paused.unlink()

    def pause(self):
        """After the events written so far are sealed (one more sweep)."""
        time.sleep(self.interval + 1.0)
        self.paused.touch()
        time.sleep(self.interval)  # a sweep under way ends
        self.cpu += self._cpu_seconds() - self._cpu_from

    def _cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def runs(self, schema: str) -> list[tuple[float, int]]:
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        return [(at, head) for at, name, head in rows if name == schema]


def _write_paced(tenant, factory, rate: int, seconds: float) -> tuple[int, float, list[float]]:
    """rate events/s for `seconds`, one bulk write every 0.1 s: (events, elapsed seconds, write latencies in ms)."""
    from bench.data import body_of, now
    from ingest.services import events_bulk_create

    per_tick, latencies, written = max(1, rate // 10), [], 0
    started = time.monotonic()
    for tick in range(int(seconds * 10)):
        due = started + tick / 10
        time.sleep(max(0.0, due - time.monotonic()))
        bodies = [body_of(factory.row(now())) for _ in range(per_tick)]
        t0 = time.monotonic()
        written += events_bulk_create(tenant_slug=tenant.slug, events=bodies)["created"]
        latencies.append((time.monotonic() - t0) * 1000)
    return written, time.monotonic() - started, latencies


def _paced_summary(runs: list[tuple[int, float, list[float]]]) -> dict:
    events, elapsed = sum(r[0] for r in runs), sum(r[1] for r in runs)
    latencies = sorted(ms for r in runs for ms in r[2])
    return {
        "events": events,
        "rate": round(events / elapsed),
        "write_p50_ms": round(_percentile(latencies, 50), 1),
        "write_p99_ms": round(_percentile(latencies, 99), 1),
    }


def _write_flat_out(tenant, factory, seconds: float, batch: int = 100) -> tuple[int, float]:
    """Bulk writes of `batch` events back to back for `seconds`: (events, elapsed seconds)."""
    from bench.data import body_of, now
    from ingest.services import events_bulk_create

    written, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        bodies = [body_of(factory.row(now())) for _ in range(batch)]
        written += events_bulk_create(tenant_slug=tenant.slug, events=bodies)["created"]
    return written, time.monotonic() - started


def _lags(schema: str, runs: list[tuple[float, int]], windows: list[tuple]) -> list[float]:
    """Seconds from received_at to the end of the sealer run that sealed it, for events received in the windows."""
    from django.db import connection

    heads = [head for _at, head in runs]
    lags = []
    for since, until in windows:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sequence, extract(epoch FROM received_at) FROM ingest_event "
                "WHERE sequence IS NOT NULL AND received_at >= %s AND received_at < %s",
                [since, until],
            )
            rows = cursor.fetchall()
        for sequence, received in rows:
            index = bisect.bisect_left(heads, sequence)
            if index < len(runs):
                lags.append(runs[index][0] - float(received))
    return sorted(lags)


TENANT_SLUG = "bench-sealing"  # a tenant of its own: the `bench` tenant's bulk-loaded events are not sealed


def sealing_tenant():
    """The tenant the sealing runs write to, created when missing."""
    import secrets

    from django.db import connection

    from ingest.partitions import partitions_ensure
    from tenants.models import Tenant
    from tenants.services import tenant_create

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        password = secrets.token_urlsafe()
        admin = {"username": f"{TENANT_SLUG}-admin", "email": "sealing@example.com", "password": password}
        tenant = tenant_create(slug=TENANT_SLUG, name="Benchmark (sealing)", admin=admin)
    connection.set_tenant(tenant)
    try:
        partitions_ensure()
    finally:
        connection.set_schema_to_public()
    return tenant


def measure(*, rate: int = 500, seconds: float = 10.0, rounds: int = 3, interval: float = 1.0, log=print) -> dict:
    """The sealing runs (see the module's docstring), in the `bench-sealing` tenant; returns their figures."""
    from django.db import connection
    from django.utils import timezone

    from bench.data import EventFactory
    from ingest.sealing import chain_head, chain_verify, events_seal

    tenant, factory = sealing_tenant(), EventFactory(seed=7)
    paced = {False: [], True: []}
    flat = {False: [], True: []}
    windows = []
    connection.set_tenant(tenant)
    try:
        events_seal(margin=0, run_seconds=3600)  # what an interrupted run left
        first_sequence = chain_head()["sequence"] + 1
        with Sealer(interval, tenant.schema_name) as sealer:
            for round_ in range(1, rounds + 1):
                log(f"sealing, round {round_}/{rounds}: paced ({rate}/s), then flat out, {seconds:.0f} s each, "
                    "without, then with the sealer")  # fmt: skip
                for sealing in (False, True):
                    events_seal(margin=0, run_seconds=3600)  # each phase starts from a sealed chain
                    if sealing:
                        sealer.resume()
                    since = timezone.now()
                    paced[sealing].append(_write_paced(tenant, factory, rate, seconds))
                    if sealing:
                        windows.append((since, timezone.now()))
                        sealer.pause()
                for sealing in (False, True):
                    events_seal(margin=0, run_seconds=3600)
                    if sealing:
                        sealer.resume()
                    flat[sealing].append(_write_flat_out(tenant, factory, seconds))
                    if sealing:
                        sealer.pause()
        events_seal(margin=0, run_seconds=3600)
        lags = _lags(tenant.schema_name, sealer.runs(tenant.schema_name), windows)
        started = time.monotonic()
        verification = chain_verify(from_sequence=first_sequence)  # this run's events
        verify_seconds = time.monotonic() - started
    finally:
        connection.set_schema_to_public()

    sealed_events = sum(r[0] for r in paced[True]) + sum(r[0] for r in flat[True])
    return {
        "sealing_lag_s": {
            "events": len(lags),
            "p50": round(_percentile(lags, 50), 3),
            "p99": round(_percentile(lags, 99), 3),
            "max": round(lags[-1], 3) if lags else None,
        },
        "paced_without_sealer": _paced_summary(paced[False]),
        "paced_with_sealer": _paced_summary(paced[True]),
        "flat_out_rate_without_sealer": round(sum(r[0] for r in flat[False]) / sum(r[1] for r in flat[False])),
        "flat_out_rate_with_sealer": round(sum(r[0] for r in flat[True]) / sum(r[1] for r in flat[True])),
        "sealer_process_cpu_s_per_1000_events": round(1000 * sealer.cpu / max(1, sealed_events), 3),
        "verify": {
            "ok": verification.ok,
            "events": verification.checked,
            "seconds": round(verify_seconds, 2),
            "events_per_s": round(verification.checked / verify_seconds) if verify_seconds else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="events per second of the paced writes")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the four phases (alternated: load varies)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between the sealer's sweeps (beat)")
    args = parser.parse_args()
    django_setup()
    result = measure(rate=args.rate, seconds=args.seconds, rounds=args.rounds, interval=args.interval)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--sealer":
        sealer_main(float(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        main()
