"""Live-tail publishing: committed events go to their tenant's channel group, batched.

Each process buffers events per tenant and one background thread sends each
tenant's buffer as one group_send every FLUSH_SECONDS: never one message per event.
Message: {"type": "events.batch", "events": <bytes: a JSON array of events in the API shape>}.
"""

import asyncio
import logging
import threading
import time

import orjson
from channels.layers import get_channel_layer

from .models import Event
from .representation import event_json

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.02
MESSAGE_TYPE = "events.batch"


def live_group(schema_name: str) -> str:
    """The channel group of a tenant's live tail (named from its schema)."""
    return f"tail.{schema_name}"


class _Publisher:
    def __init__(self):
        self._lock = threading.Lock()
        self._buffers: dict[str, list[bytes]] = {}  # each event's JSON, not its dicts: fewer objects for the GC
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, schema_name: str, events: list[Event]) -> None:
        payload = [orjson.dumps(event_json(e), default=str) for e in events]
        with self._lock:
            self._buffers.setdefault(schema_name, []).extend(payload)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
                self._thread.start()
        self._wake.set()

    def _take(self) -> dict[str, list[bytes]]:
        with self._lock:
            buffers, self._buffers = self._buffers, {}
        return buffers

    async def _send(self, buffers: dict[str, list[bytes]]) -> None:
        layer = get_channel_layer()
        for schema_name, events in buffers.items():
            try:
                await layer.group_send(
                    live_group(schema_name), {"type": MESSAGE_TYPE, "events": b"[" + b",".join(events) + b"]"}
                )
            except Exception:  # noqa: BLE001 - the tail is best effort; events are stored regardless
                logger.exception("live tail publish failed for %s (%d events)", schema_name, len(events))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()  # one loop for the thread's life: the layer's connections persist
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(FLUSH_SECONDS)  # let concurrent commits join the batch
            buffers = self._take()
            if buffers:
                loop.run_until_complete(self._send(buffers))

    def flush(self) -> None:
        """Send what is buffered now, from the calling thread (tests, shutdown)."""
        buffers = self._take()
        if buffers:
            asyncio.run(self._send(buffers))


_publisher = _Publisher()


def live_publish(schema_name: str, events: list[Event]) -> None:
    _publisher.publish(schema_name, events)


def live_flush() -> None:
    _publisher.flush()
