"""Helpers of the live-tail tests: clients of the real ASGI application over the Redis channel layer, and
events written through the API with real commits."""

import asyncio
from urllib.parse import urlencode

import orjson
from channels.testing import WebsocketCommunicator
from django.db import connection
from rest_framework.test import APIClient

from auditlog.asgi import application
from ingest.live import live_flush

PATH = "/api/v1/logs/stream"


def tail(params: dict | None = None, *, token=None, header=None, host="localhost", headers=()) -> WebsocketCommunicator:
    """A client of the live tail: a credential in `?token=` (token) or `Authorization: Bearer` (header)."""
    query = dict(params or {})
    if token is not None:
        query["token"] = token
    sent = [(b"host", host.encode()), *headers]
    if header is not None:
        sent.append((b"authorization", f"Bearer {header}".encode()))
    return WebsocketCommunicator(application, f"{PATH}?{urlencode(query)}", headers=sent)


async def opened(comm: WebsocketCommunicator) -> WebsocketCommunicator:
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def close_code(comm: WebsocketCommunicator, timeout: float = 5) -> int:
    """The code of the close that must come next (any data before it fails the test)."""
    message = await comm.receive_output(timeout)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def next_message(comm: WebsocketCommunicator, timeout: float = 5) -> dict:
    return orjson.loads(await comm.receive_from(timeout))


async def next_events(comm: WebsocketCommunicator, count: int, timeout: float = 10) -> list[dict]:
    """The next `count` events, each as {"event", "cursor"} (heartbeats skipped; `events` messages unpacked)."""
    out: list[dict] = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            message = await next_message(comm, timeout)
            assert message["type"] in ("event", "events", "heartbeat"), message
            if message["type"] == "event":
                out.append(message)
            elif message["type"] == "events":
                out += message["events"]
    return out


def write(key: str, bodies: list[dict]) -> list[str]:
    """POST the events in one bulk request (one commit: one live batch) and flush the live tail; their ids."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    try:
        response = client.post("/api/v1/logs/bulk", {"events": bodies}, format="json")
        assert response.status_code == 201, response.content
        live_flush()
        return [str(event_id) for event_id in response.json()["ids"]]
    finally:
        connection.close()  # this thread's connection: back to the pool


async def written(key: str, bodies: list[dict]) -> list[str]:
    return await asyncio.to_thread(write, key, bodies)
