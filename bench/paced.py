"""Open-loop single-event ingest: POST /api/v1/logs at a constant rate, latency from each request's scheduled time.

    .venv/bin/python bench/paced.py --port 8100 --rate 1000 --duration 20 --bodies bodies.ndjson  (key in BENCH_KEY)

A closed loop (wrk) sends the next request only when one comes back, so a slow server is sent less and its
stalls hide (coordinated omission). Here request i is due at t0 + i / rate whatever happened before, and its
latency is counted from that due time to the end of its response: a stall shows in every request it delays,
and a server slower than the rate shows as latencies that grow for the whole run. The SPEC's "1,000 events/s
sustained, p99 under 50 ms" is this kind of statement.

One process (uvloop when installed), raw HTTP/1.1 keep-alive sockets from a fixed pool opened before t0; a
request due while every connection is busy waits for one, and that wait counts in its latency. Requests are
pre-built bytes and a response is parsed no further than its status and Content-Length, so the client costs a
few percent of one core at 1,000 requests/s: it reports its own CPU time to show it.
Prints one JSON line with the results.
"""

import argparse
import asyncio
import math
import os
import sys

import orjson

HEAD_END = b"\r\n\r\n"


def _request(host: str, port: int, key: str, body: bytes) -> bytes:
    head = (
        f"POST /api/v1/logs HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("a response without Content-Length")


class _Run:
    def __init__(self, requests: list[bytes], rate: float, total: int):
        self.requests, self.rate, self.total = requests, rate, total
        self.latencies: list[float] = []  # seconds, scheduled time to the end of the response, 2xx only
        self.lateness: list[float] = []  # seconds the client itself started a request after its scheduled time
        self.waited = 0  # requests that found every connection busy
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.done = 0
        self.last_response = 0.0

    async def _exchange(self, reader, writer, payload: bytes) -> int:
        writer.write(payload)
        head = await reader.readuntil(HEAD_END)
        await reader.readexactly(_content_length(head))
        return int(head[9:12])

    async def one(self, index: int, due: float, idle: asyncio.Queue, host: str, port: int):
        loop = asyncio.get_running_loop()
        self.lateness.append(loop.time() - due)
        if idle.empty():
            self.waited += 1
        reader, writer = await idle.get()
        try:
            status = await self._exchange(reader, writer, self.requests[index % len(self.requests)])
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)  # a fresh one replaces it in the pool
        else:
            finished = loop.time()
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                self.latencies.append(finished - due)
            self.last_response = finished
        finally:
            self.done += 1
            idle.put_nowait((reader, writer))


def _percentile(ordered: list[float], p: float) -> float:
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000 if ordered else math.nan


async def _main(args) -> dict:
    key = os.environ["BENCH_KEY"]
    bodies = [line for line in open(args.bodies, "rb").read().splitlines() if line]
    requests = [_request("127.0.0.1", args.port, key, body) for body in bodies]
    total = int(args.rate * args.duration)
    run = _Run(requests, args.rate, total)
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(args.connections):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", args.port))

    loop = asyncio.get_running_loop()
    cpu_before, t0 = os.times(), loop.time() + 0.1
    tasks = set()
    index = 0
    while index < total:
        now = loop.time()
        due_count = min(total, int((now - t0) * args.rate) + 1)  # every request due by now
        while index < due_count:
            task = asyncio.ensure_future(run.one(index, t0 + index / args.rate, idle, "127.0.0.1", args.port))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        await asyncio.sleep(max(0.0, t0 + index / args.rate - loop.time()))
    sent_by = loop.time()
    if tasks:
        await asyncio.wait(set(tasks), timeout=args.timeout)
    timeouts = total - run.done
    cpu_after = os.times()
    wall = loop.time() - t0
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)

    ordered, late = sorted(run.latencies), sorted(run.lateness)
    ok = len(ordered)
    return {
        "rate": args.rate,
        "duration_s": args.duration,
        "connections": args.connections,
        "scheduled": total,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "non2xx": sum(v for k, v in run.statuses.items() if not 200 <= k < 300),
        "errors": len(run.errors),
        "first_errors": run.errors[:3],
        "timeouts": timeouts,
        # 2xx answered per second from t0 to the last response: below the rate when the server falls behind.
        "achieved_per_s": ok / max(run.last_response - t0, 1e-9),
        "send_seconds": sent_by - t0,
        "p50_ms": _percentile(ordered, 50),
        "p90_ms": _percentile(ordered, 90),
        "p99_ms": _percentile(ordered, 99),
        "p999_ms": _percentile(ordered, 99.9),
        "max_ms": ordered[-1] * 1000 if ordered else math.nan,
        "waited_for_connection": run.waited,
        "client_late_p99_ms": _percentile(late, 99),
        "client_cpu_s": cpu,
        "client_cpu_cores": cpu / wall,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000, help="requests per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds of scheduled requests")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections in the pool")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for the last answers")
    parser.add_argument("--bodies", required=True, help="one JSON event per line, cycled through")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    sys.stdout.write("BENCH_JSON " + orjson.dumps(runner(_main(args))).decode() + "\n")


if __name__ == "__main__":
    main()
