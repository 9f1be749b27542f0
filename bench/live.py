"""Live tail under load: 100 WebSocket clients, events posted at a fixed rate, latency and losses.

Latency is the client's receipt time minus the event's `received_at` (stamped by the
server just before the insert), so it covers insert, commit, publish, fan-out and delivery;
everything runs on one machine, one clock. Clients run in a few processes of their own
so that parsing 100 x 1,000 messages a second does not become the bottleneck being measured.
"""

import asyncio
import http.client
import multiprocessing as mp
import time
import uuid
from datetime import datetime

import orjson

from .stats import Latencies

BATCH_EVERY = 0.02  # seconds between bulk requests of the producer


def _client_process(url: str, count: int, ready, go_home, results):
    import gc

    import websockets

    gc.disable()  # millions of small objects held to the end: collections would only stall the receipt clock

    stamps: dict[str, float] = {}  # received_at of each event id, parsed once for all clients of the process
    clock, loads = time.time, orjson.loads

    async def one(received: dict, latencies: list, connections: list):
        # Lean on purpose: with 100 clients on the server's machine, the clients' own parsing is part of what is
        # measured, so a receipt costs one recv and one parse (no timeout task per message).
        async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
            connections.append(ws)
            ready.put(1)
            add = latencies.append
            try:
                while True:
                    raw = await ws.recv(decode=False)
                    now = clock()
                    message = loads(raw)
                    kind = message.get("type")
                    if kind == "events":
                        items = message["events"]
                    elif kind == "event":
                        items = (message,)
                    else:
                        if kind == "lagged":
                            received["lagged"] = 1  # told to resume elsewhere; this client does not
                        continue
                    for item in items:
                        event = item["event"]
                        event_id = event["id"]
                        received[event_id] = received.get(event_id, 0) + 1
                        stamp = stamps.get(event_id)
                        if stamp is None:
                            stamp = stamps[event_id] = datetime.fromisoformat(event["received_at"]).timestamp()
                        add(now - stamp)
            except websockets.ConnectionClosed:
                pass

    async def home(connections: list):
        """Close every connection once the run is over: their receive loops end."""
        while not go_home.is_set():
            await asyncio.sleep(0.2)
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)

    async def main():
        state = [({}, []) for _ in range(count)]
        connections: list = []
        await asyncio.gather(home(connections), *(one(r, lat, connections) for r, lat in state), return_exceptions=True)
        results.put([(list(r.items()), lat) for r, lat in state])

    asyncio.run(main())


def _post(port: int, key: str, body: bytes) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/v1/logs/bulk", body, {"Authorization": f"Bearer {key}",
                                                     "Content-Type": "application/json"})  # fmt: skip
    response = conn.getresponse()
    data = response.read()
    if response.status != 201:
        raise RuntimeError(f"bulk POST answered {response.status}: {data[:200]!r}")
    return orjson.loads(data)["ids"]


def measure(
    port: int, read_key: str, ingest_key: str, *, clients=100, rate=1000, duration=10, processes=2, batch=False
) -> dict:
    """One run; with batch, the clients ask for `events` messages (batch=true) instead of one message per event."""
    marker = f"live-bench-{uuid.uuid4().hex[:8]}"
    url = f"ws://127.0.0.1:{port}/api/v1/logs/stream?token={read_key}&source={marker}&batch={str(batch).lower()}"
    ctx = mp.get_context("spawn")
    ready, results, go_home = ctx.Queue(), ctx.Queue(), ctx.Event()
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    workers = [ctx.Process(target=_client_process, args=(url, n, ready, go_home, results)) for n in shares]
    for w in workers:
        w.start()
    for _ in range(clients):
        ready.get(timeout=60)

    per_batch = max(1, round(rate * BATCH_EVERY))
    event = {"actor": {"id": "bench"}, "action": "LIVE", "resource": {"type": "bench"}, "source": marker}
    body = orjson.dumps({"events": [event] * per_batch})
    sent: list[str] = []
    started = time.monotonic()
    tick = started
    while time.monotonic() - started < duration:
        sent += _post(port, ingest_key, body)
        tick += BATCH_EVERY
        time.sleep(max(0.0, tick - time.monotonic()))
    elapsed = time.monotonic() - started
    time.sleep(3)  # let the last batches arrive
    go_home.set()
    reports = [r for _ in workers for r in results.get(timeout=60)]
    for w in workers:
        w.join(timeout=30)

    latencies, lost, duplicates, lagged = Latencies(), 0, 0, 0
    expected = set(sent)
    for items, lat in reports:
        got = dict(items)
        lagged += got.pop("lagged", 0)
        lost += len(expected - set(got))
        duplicates += sum(n - 1 for n in got.values() if n > 1)
        for value in lat:
            latencies.add(value)
    return {"batch": batch, "clients": clients, "events": len(sent), "rate": len(sent) / elapsed, "lost": lost,
            "duplicates": duplicates, "lagged": lagged, **latencies.summary()}  # fmt: skip
