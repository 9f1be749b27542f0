"""Streamed export: GET /api/v1/logs/export of the bench tenant over HTTP against a raw COPY of the same rows.

For each format, the whole tenant (newest first, as the service reads it) and a tenth of it (its newest 6
days, of 60): rows/s, and the memory of the uvicorn worker that served it (its peak resident set size while
exporting, read from /proc/<pid>/status every 20 ms, and VmHWM after its high-water mark is reset through
/proc/<pid>/clear_refs where the kernel allows). Constant memory shows as the same peak for both sizes.
The baseline is `COPY (SELECT <the event columns> FROM ingest_event ORDER BY occurred_at DESC, id DESC) TO
STDOUT` on a raw psycopg connection, in the same run.
"""

import http.client
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from .context import connect

FORMATS = ("ndjson", "csv", "json")
READ_BYTES = 1 << 20
SAMPLE_SECONDS = 0.02


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssWatch:
    """Samples VmRSS of the server's workers while it runs; peak and growth per worker, in MiB."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.before = {pid: _status_kib(pid, "VmRSS") for pid in pids}
        self.reset = all(_reset_peak(pid) for pid in pids)
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(SAMPLE_SECONDS):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], _status_kib(pid, "VmRSS"))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.reset:
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], _status_kib(pid, "VmHWM"))

    def busiest(self) -> dict:
        """The worker whose memory grew most (the one that served the export)."""
        pid = max(self.pids, key=lambda p: (self.peak[p] - self.before[p], self.peak[p]))  # ties: the largest
        return {
            "rss_before_mib": self.before[pid] / 1024,
            "rss_peak_mib": self.peak[pid] / 1024,
            "rss_growth_mib": (self.peak[pid] - self.before[pid]) / 1024,
            "hwm_reset": self.reset,
        }


def _export(port: int, key: str, params: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", "/api/v1/logs/export?" + urlencode(params), headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    first = None
    size = lines = 0
    while chunk := response.read1(READ_BYTES) if hasattr(response, "read1") else response.read(READ_BYTES):
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise SystemExit(f"export {params}: HTTP {response.status}")
    return {"seconds": seconds, "first_byte_s": first or seconds, "bytes": size, "lines": lines}


def _copy_baseline(schema: str, since) -> dict:
    from exports.selectors import EVENT_FIELDS

    where = "WHERE occurred_at >= %s" if since else ""
    columns = ", ".join(EVENT_FIELDS)
    sql = f"COPY (SELECT {columns} FROM ingest_event {where} ORDER BY occurred_at DESC, id DESC) TO STDOUT"
    with connect(schema) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        size = rows = 0
        with cursor.copy(sql, [since] if since else None) as copy:
            for data in copy:
                size += len(data)
                rows += bytes(data).count(b"\n")
        return {"seconds": time.perf_counter() - started, "bytes": size, "rows": rows}


def measure(tenant, server, formats=FORMATS) -> list[dict]:
    """Each format, whole tenant and newest tenth, with the COPY baseline of the same rows."""
    from tenants.services import api_key_create, api_key_revoke

    from .data import now

    key, secret = api_key_create(tenant=tenant.tenant, name="bench export", scopes=["export"])
    try:
        workers = _children(server.process.pid) or [server.process.pid]
        since = now() - timedelta(days=6)
        _export(server.port, secret, {"from": now().isoformat()})  # warm-up: imports, caches, first connections
        results = []
        for label, params, copy_since in (
            ("all events", {}, None),
            ("newest 6 days", {"from": since.isoformat()}, since),
        ):
            baseline = _copy_baseline(tenant.schema, copy_since)
            for fmt in formats:
                with RssWatch(workers) as watch:
                    run = _export(server.port, secret, {**params, "format": fmt})
                rows = baseline["rows"] if fmt != "ndjson" else run["lines"]
                results.append(
                    {
                        "case": label,
                        "format": fmt,
                        "rows": rows,
                        "rows_per_s": rows / run["seconds"],
                        "mib_per_s": run["bytes"] / run["seconds"] / 2**20,
                        "first_byte_ms": run["first_byte_s"] * 1000,
                        "copy_rows_per_s": baseline["rows"] / baseline["seconds"],
                        **watch.busiest(),
                    }
                )
        return results
    finally:
        api_key_revoke(key=key)


def table(results: list[dict] | None) -> list[str]:
    if not results:
        return ["Not measured."]
    lines = [
        "| export | format | rows | rows/s | MiB/s | first byte | COPY rows/s (same rows) | service / COPY "
        "| worker RSS before / peak / growth | >= 50,000 rows/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        met = "yes" if r["rows_per_s"] >= 50_000 else "**no**"
        lines.append(
            f"| {r['case']} | {r['format']} | {r['rows']:,} | {r['rows_per_s']:,.0f} | {r['mib_per_s']:,.1f} "
            f"| {r['first_byte_ms']:,.0f} ms | {r['copy_rows_per_s']:,.0f} "
            f"| {r['rows_per_s'] / r['copy_rows_per_s']:.2f} "
            f"| {r['rss_before_mib']:,.0f} / {r['rss_peak_mib']:,.0f} / {r['rss_growth_mib']:,.1f} MiB | {met} |"
        )
    return lines


if __name__ == "__main__":  # python -m bench.exports [--port 8190] [--workers 2]: this phase alone
    import argparse
    import sys

    from .context import RESULTS, django_setup

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    django_setup()
    from .server import Server
    from .tenant import bench_tenant

    tenant = bench_tenant()
    try:
        RESULTS.mkdir(exist_ok=True)
        with Server(args.port, args.workers, RESULTS / "uvicorn-exports.log") as server:
            results = measure(tenant, server, tuple(args.formats.split(",")))
    finally:
        tenant.revoke_keys()
    text = "\n".join(["# Streamed export", "", *table(results), ""])
    (RESULTS / "exports.md").write_text(text)
    print(text, file=sys.stdout)
    os._exit(0)
