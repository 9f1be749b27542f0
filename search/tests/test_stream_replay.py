"""WS /api/v1/logs/stream with `since`: replay, then live, with no gap and no duplicate; lagging clients.

Over the real ASGI application and the Redis channel layer, with events written through the
API (real commits), also while the client connects and replays.
"""

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson
import pytest
from django.db import connection
from rest_framework.test import APIClient

from conftest import event_body
from ingest.live import live_flush, live_publish
from ingest.models import Event
from search.consumers import LiveTailConsumer
from search.cursor import cursor_encode
from search.tail import position_before

from .stream_support import next_events, opened, tail, written


def stored_keys(tenant, marker: str) -> list[tuple]:
    """(occurred_at, id) of the marker's events, oldest first."""
    connection.set_tenant(tenant)
    try:
        return list(Event.objects.filter(source=marker).order_by("occurred_at", "id").values_list("occurred_at", "id"))
    finally:
        connection.set_schema_to_public()
        connection.close()


async def keys_after(tenant, marker: str, cursor_key) -> set[str]:
    return {str(i) for at, i in await asyncio.to_thread(stored_keys, tenant, marker) if (at, i) > cursor_key}


@pytest.mark.asyncio
async def test_replay_applies_the_filters_oldest_first_after_the_cursor(committed_world, marker, settings):
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_REPLAY_PAGE": 2}
    w = committed_world
    bodies = [event_body(source=marker, severity="ERROR" if i % 2 else "INFO") for i in range(9)]
    ids = await written(w.acme.keys["ingest"], bodies)
    errors = set(ids[1::2])
    keys = await asyncio.to_thread(stored_keys, w.acme.tenant, marker)
    since = cursor_encode(*keys[2])
    comm = await opened(tail({"source": marker, "severity": "ERROR", "since": since}, token=w.acme.keys["read"]))
    expected = [str(i) for _, i in keys[3:] if str(i) in errors]
    assert [m["event"]["id"] for m in await next_events(comm, len(expected))] == expected
    assert await comm.receive_nothing(0.3)
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize("batch", ["false", "true"])
async def test_replay_then_live_while_events_are_written(committed_world, marker, settings, batch):
    """Every event after the cursor arrives exactly once, those written during the switch included."""
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_REPLAY_PAGE": 7}
    w = committed_world
    await written(w.acme.keys["ingest"], [event_body(source=marker, message=f"before {i}") for i in range(40)])
    cursor_key = (await asyncio.to_thread(stored_keys, w.acme.tenant, marker))[9]

    stop, statuses = threading.Event(), []

    def keep_writing():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {w.acme.keys['ingest']}")
        try:
            for i in range(60):
                if i % 3:
                    response = client.post(
                        "/api/v1/logs", event_body(source=marker, message=f"during {i}"), format="json"
                    )
                else:
                    bulk = [event_body(source=marker, message=f"during {i}.{k}") for k in range(3)]
                    response = client.post("/api/v1/logs/bulk", {"events": bulk}, format="json")
                statuses.append(response.status_code)
                if stop.wait(0.01):
                    break
        finally:
            connection.close()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        params = {"source": marker, "since": cursor_encode(*cursor_key), "batch": batch}
        comm = await opened(tail(params, token=w.acme.keys["read"]))
        received = [m["event"]["id"] for m in await next_events(comm, 30)]  # the replay, at least
    finally:
        await asyncio.to_thread(writer.join)
    assert set(statuses) == {201}
    expected = await keys_after(w.acme.tenant, marker, cursor_key)
    received += [m["event"]["id"] for m in await next_events(comm, len(expected) - len(received))]
    assert await comm.receive_nothing(0.5)
    assert len(received) == len(set(received)), "an event arrived twice"
    assert set(received) == expected
    await comm.disconnect()


@pytest.fixture
def slow_client(monkeypatch):
    """Sending an event takes a second, as on a socket whose reader is slow."""
    send = LiveTailConsumer.send

    async def slow_send(self, text_data=None, bytes_data=None, close=False):
        if text_data and text_data.startswith('{"type":"event"'):
            await asyncio.sleep(1.0)
        await send(self, text_data, bytes_data, close)

    monkeypatch.setattr(LiveTailConsumer, "send", slow_send)
    return monkeypatch


async def lag(comm, key: str, batches: list[list[dict]], *, busy: bool = False) -> tuple[list[dict], str]:
    """Write the batches faster than the client reads; (the events it got, the resume cursor) once it lagged.

    Unless the client is `busy` already (replaying), the first batch is written alone and its first event awaited,
    so the client is sending when the others come (all at once, they could overflow its queue before it sent any)."""
    messages = []
    if not busy:
        await written(key, batches[0])
        messages.append(orjson.loads((await comm.receive_output(5))["text"]))
        batches = batches[1:]
    for bodies in batches:
        await written(key, bodies)
    while (output := await comm.receive_output(5))["type"] == "websocket.send":
        messages.append(orjson.loads(output["text"]))
    assert output == {"type": "websocket.close", "code": 4008}
    *events, lagged = messages
    assert [m["type"] for m in events] == ["event"] * len(events) and lagged["type"] == "lagged", messages
    await comm.disconnect()
    return events, lagged["resume"]


@pytest.mark.asyncio
async def test_a_slow_client_is_told_where_to_resume_and_resuming_loses_nothing(
    committed_world, marker, settings, slow_client
):
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_QUEUE_EVENTS": 2}
    w = committed_world
    comm = await opened(tail({"source": marker}, token=w.acme.keys["read"]))
    batches = [[event_body(source=marker, message=f"burst {i}") for _ in range(2)] for i in range(4)]
    events, resume = await lag(comm, w.acme.keys["ingest"], batches)
    assert 0 < len(events) < 8 and resume == events[-1]["cursor"]

    slow_client.undo()
    comm = await opened(tail({"source": marker, "since": resume}, token=w.acme.keys["read"]))
    rest = [m["event"]["id"] for m in await next_events(comm, 8 - len(events))]
    assert await comm.receive_nothing(0.3)
    delivered = [m["event"]["id"] for m in events] + rest
    assert len(delivered) == len(set(delivered)) == 8
    assert set(delivered) == await keys_after(w.acme.tenant, marker, (datetime.min.replace(tzinfo=UTC), UUID(int=0)))
    await comm.disconnect()


@pytest.mark.asyncio
async def test_a_lag_among_events_out_of_time_order_resumes_before_the_earliest_not_sent(
    committed_world, marker, settings, slow_client
):
    """Events arrive in commit order; one backfilled behind those sent must not be lost (those may repeat)."""
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_QUEUE_EVENTS": 2}
    w = committed_world
    comm = await opened(tail({"source": marker}, token=w.acme.keys["read"]))
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    batches = [
        [event_body(source=marker, message="now") for _ in range(2)],
        [event_body(source=marker, message="backfilled", occurred_at=an_hour_ago) for _ in range(2)],
        [event_body(source=marker, message="now again") for _ in range(2)],
    ]
    events, resume = await lag(comm, w.acme.keys["ingest"], batches)
    assert resume != events[-1]["cursor"]

    slow_client.undo()
    everything = await keys_after(w.acme.tenant, marker, (datetime.min.replace(tzinfo=UTC), UUID(int=0)))
    comm = await opened(tail({"source": marker, "since": resume}, token=w.acme.keys["read"]))
    replayed = [m["event"]["id"] for m in await next_events(comm, len(everything))]
    assert await comm.receive_nothing(0.3)
    assert set(replayed) == everything and len(replayed) == len(set(replayed))
    await comm.disconnect()


@pytest.mark.asyncio
async def test_a_lag_during_the_replay_resumes_after_the_last_event_replayed(
    committed_world, marker, settings, slow_client
):
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_QUEUE_EVENTS": 1}
    w = committed_world
    await written(w.acme.keys["ingest"], [event_body(source=marker, message=f"stored {i}") for i in range(3)])
    since = cursor_encode(datetime.now(UTC) - timedelta(minutes=5), UUID(int=0))
    comm = await opened(tail({"source": marker, "since": since}, token=w.acme.keys["read"]))
    live = [[event_body(source=marker, message=f"live {i}")] for i in range(2)]
    events, resume = await lag(comm, w.acme.keys["ingest"], live, busy=True)  # written while the first is replayed
    assert len(events) == 1 and resume == events[0]["cursor"]

    slow_client.undo()
    comm = await opened(tail({"source": marker, "since": resume}, token=w.acme.keys["read"]))
    rest = [m["event"]["id"] for m in await next_events(comm, 4)]
    assert await comm.receive_nothing(0.3)
    everything = await keys_after(w.acme.tenant, marker, (datetime.min.replace(tzinfo=UTC), UUID(int=0)))
    assert sorted([events[0]["event"]["id"], *rest]) == sorted(everything)
    await comm.disconnect()


@pytest.mark.asyncio
async def test_the_live_copy_of_a_replayed_event_is_skipped(committed_world, marker, monkeypatch):
    """Committed before the replay read it, published after the client joined: sent once, by the replay."""
    w = committed_world
    held = []
    monkeypatch.setattr("ingest.services.live_publish", lambda schema, events: held.append((schema, events)))
    stored = await written(w.acme.keys["ingest"], [event_body(source=marker, message=f"late {i}") for i in range(3)])
    since = cursor_encode(datetime.now(UTC) - timedelta(minutes=5), UUID(int=0))
    comm = await opened(tail({"source": marker, "since": since}, token=w.acme.keys["read"]))
    assert sorted(m["event"]["id"] for m in await next_events(comm, 3)) == sorted(stored)

    monkeypatch.undo()
    await asyncio.to_thread(lambda: [live_publish(*args) for args in held] and live_flush())
    fresh = await written(w.acme.keys["ingest"], [event_body(source=marker, message="fresh")])
    assert [m["event"]["id"] for m in await next_events(comm, 1)] == fresh
    assert await comm.receive_nothing(0.3)
    await comm.disconnect()


@pytest.mark.asyncio
async def test_a_failing_replay_closes_with_1011(committed_world, marker, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr("search.consumers.replay_page", broken)
    since = cursor_encode(datetime.now(UTC), UUID(int=0))
    comm = await opened(tail({"source": marker, "since": since}, token=committed_world.acme.keys["read"]))
    assert (await comm.receive_output(5))["code"] == 1011
    assert "live tail of" in caplog.text
    await comm.disconnect()


def test_the_position_right_before_an_event():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert position_before((at, UUID(int=5))) == (at, UUID(int=4))
    assert position_before((at, UUID(int=0))) == (at - timedelta(microseconds=1), UUID(int=(1 << 128) - 1))
