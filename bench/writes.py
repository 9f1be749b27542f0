"""Ingest through the service: single events with wrk (closed loop) and at a constant rate (open loop, bench/paced.py),
bulk requests from a few keep-alive clients."""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from .context import connect
from .dataset import event_count
from .stats import Latencies
from .workers import Pending, run_threads

LUA_SCRIPT = Path(__file__).with_name("post_event.lua")
PACED_CLIENT = Path(__file__).with_name("paced.py")


class DatabaseWatch:
    """While the block runs: the peak of open connections to the database and the sessions opened."""

    def __init__(self):
        self.peak = 0
        self.sessions = 0
        self._stop = threading.Event()

    def _sessions(self, conn) -> int:
        return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]

    def _sample(self):
        with connect() as conn:
            while not self._stop.wait(0.2):
                count = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                self.peak = max(self.peak, conn.execute(count).fetchone()[0])

    def __enter__(self):
        with connect() as conn:
            self._before = self._sessions(conn)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        time.sleep(1)  # backends report their session counts at most once a second
        with connect() as conn:
            self.sessions = self._sessions(conn) - self._before


def _wrk(url: str, env: dict, *, connections: int, duration: int) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA_SCRIPT), url]
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise RuntimeError(f"wrk failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")


def single_rate(
    port: int, key: str, bodies: list[dict], *, schema: str, connections: int, duration: int, bodies_path: Path
) -> dict:
    """wrk POSTs /api/v1/logs from `connections` connections; rows stored are counted before and after."""
    bodies_path.write_bytes(b"\n".join(orjson.dumps(body) for body in bodies) + b"\n")
    before = event_count(schema)
    with DatabaseWatch() as database:
        out = _wrk(
            f"http://127.0.0.1:{port}/api/v1/logs",
            {"BENCH_KEY": key, "BENCH_BODIES": str(bodies_path)},
            connections=connections,
            duration=duration,
        )
    stored = event_count(schema) - before
    ok = out["requests"] - out["non2xx"]
    return {
        "events_per_s": ok / (out["duration_us"] / 1e6),
        "p50_ms": out["p50_us"] / 1000,
        "p99_ms": out["p99_us"] / 1000,
        "responses": out["requests"],
        "non2xx": out["non2xx"],
        "socket_errors": out["socket_errors"],
        "timeouts": out["timeouts"],
        "stored": stored,
        "db_peak_connections": database.peak,
        "db_sessions_per_request": database.sessions / max(out["requests"], 1),
    }


def paced_rate(
    port: int, key: str, *, schema: str, rate: int, duration: int, connections: int, bodies_path: Path
) -> dict:
    """bench/paced.py POSTs /api/v1/logs at `rate` per second for `duration` s (bodies from single_rate's file),
    in a process of its own, which reports its CPU use; rows stored are counted before and after."""
    before = event_count(schema)
    command = [
        sys.executable, str(PACED_CLIENT), "--port", str(port), "--rate", str(rate), "--duration", str(duration),
        "--connections", str(connections), "--bodies", str(bodies_path),
    ]  # fmt: skip
    result = subprocess.run(command, env={**os.environ, "BENCH_KEY": key}, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            out = json.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise RuntimeError(f"bench/paced.py failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return {**out, "stored": event_count(schema) - before}


def bulk_rate(port: int, key: str, bodies: list[bytes], *, events_per_body: int, clients: int) -> dict:
    """POST every body once to /api/v1/logs/bulk, `clients` keep-alive connections taking bodies in turn."""
    pending = Pending(bodies)
    latencies = Latencies()
    failures: list[str] = []
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

    def client(_index: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while (body := pending.take()) is not None:
                started = time.perf_counter()
                conn.request("POST", "/api/v1/logs/bulk", body, headers)
                response = conn.getresponse()
                payload = response.read()
                latencies.add(time.perf_counter() - started)
                if response.status != 201 or orjson.loads(payload)["created"] != events_per_body:
                    failures.append(f"{response.status} {payload[:300]!r}")
        finally:
            conn.close()

    elapsed = run_threads(clients, client)
    stored = (len(bodies) - len(failures)) * events_per_body
    return {"events_per_s": stored / elapsed, "failures": failures, **latencies.summary()}
