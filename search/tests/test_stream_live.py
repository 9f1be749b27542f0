"""WS /api/v1/logs/stream, live: tenant isolation, filters as GET /api/v1/logs has them, heartbeats, bad filters.

Over the real ASGI application and the Redis channel layer; events are written through the API
and committed, so they reach the tail as in production (ingest.live).
"""

import asyncio

import pytest
from django.db import connection
from rest_framework.test import APIClient

from conftest import event_body
from search.cursor import cursor_decode

from .stream_support import close_code, next_events, next_message, opened, tail, written


def listed(key: str, params: dict) -> set[str]:
    """Ids GET /api/v1/logs answers for these filters (one page is enough here)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    try:
        response = client.get("/api/v1/logs", {**params, "limit": 1000})
    finally:
        connection.close()  # this thread's connection: back to the pool
    assert response.status_code == 200, response.content
    return {event["id"] for event in response.json()["results"]}


@pytest.mark.asyncio
async def test_a_tenant_never_receives_another_tenants_events(committed_world, marker):
    w = committed_world
    acme = await opened(tail({"source": marker}, token=w.acme.keys["read"]))
    globex = await opened(tail(token=w.globex.keys["read"]))  # no filter at all
    acme_ids = await written(w.acme.keys["ingest"], [event_body(source=marker, message=f"acme {i}") for i in range(3)])
    assert sorted(m["event"]["id"] for m in await next_events(acme, 3)) == sorted(acme_ids)
    assert await globex.receive_nothing(0.5)
    globex_ids = await written(w.globex.keys["ingest"], [event_body(source=marker, message="globex")])
    assert [m["event"]["id"] for m in await next_events(globex, 1)] == globex_ids
    assert await acme.receive_nothing(0.3)
    await acme.disconnect()
    await globex.disconnect()


def varied(marker: str) -> list[dict]:
    return [
        event_body(
            source=marker,
            actor={"id": "alice"},
            action="LOGIN",
            severity="ERROR",
            message="Disk full on node seven",
            metadata={"region": "eu"},
            context={"ip": "10.1.2.3"},
            tags=["billing"],
        ),
        event_body(source=marker, severity="CRITICAL", message="disk full, ignored", metadata={"region": "us"}),
        event_body(
            source=marker, actor={"id": "bob"}, message="all good", metadata={"region": "eu", "plan": {"tier": "gold"}}
        ),
        event_body(
            source=marker,
            severity="WARNING",
            metadata={"note": "disk full"},
            context={"ip": "2001:db8::5"},
            tags=["eu"],
        ),
        event_body(source=marker, actor={"id": "alice"}, action="LOGIN", context={"ip": "192.168.0.1"}),
    ]


FILTERS = [  # (filters, the indexes of varied() they select)
    ({"q": '"disk full" -ignored'}, {0, 3}),
    ({"metadata.region": "eu"}, {0, 2}),
    ({"actor_id": "alice", "action": "login"}, {0, 4}),
    ({"severity": "ERROR,CRITICAL", "ip": "10.0.0.0/8"}, {0}),
    ({"tag": "eu,billing", "q": "disk or good"}, {0, 3}),
    ({"metadata.plan.tier": "gold", "actor_type": "user"}, {2}),
    ({"ip": "2001:db8::/32,192.168.0.1"}, {3, 4}),
    ({"q": "nowhere"}, set()),
]


@pytest.mark.asyncio
async def test_each_connection_gets_what_its_filters_select_as_the_list_does(committed_world, marker):
    w = committed_world
    clients = [await opened(tail({**params, "source": marker}, token=w.acme.keys["read"])) for params, _ in FILTERS]
    ids = await written(w.acme.keys["ingest"], varied(marker))
    for client, (params, selected) in zip(clients, FILTERS, strict=True):
        messages = await next_events(client, len(selected))
        assert await client.receive_nothing(0.2), params
        received = {m["event"]["id"] for m in messages}
        assert received == {ids[i] for i in selected}, params
        assert received == await asyncio.to_thread(listed, w.acme.keys["read"], {**params, "source": marker})
        for message in messages:
            occurred_at, event_id = cursor_decode(message["cursor"])
            assert str(event_id) == message["event"]["id"]
            assert occurred_at.isoformat() == message["event"]["occurred_at"]
        await client.disconnect()


@pytest.mark.asyncio
async def test_heartbeats_while_idle(committed_world, marker, settings):
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_HEARTBEAT_SECONDS": 0.1}
    comm = await opened(tail({"source": marker}, token=committed_world.acme.keys["read"]))
    assert [await next_message(comm) for _ in range(2)] == [{"type": "heartbeat"}] * 2
    ids = await written(committed_world.acme.keys["ingest"], [event_body(source=marker)])
    assert [m["event"]["id"] for m in await next_events(comm, 1)] == ids
    assert await next_message(comm) == {"type": "heartbeat"}
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "params, field",
    [
        ({"severity": "LOUD"}, "severity"),
        ({"unknown": "1"}, "unknown"),
        ({"limit": "5"}, "limit"),
        ({"q": ""}, "q"),
        ({"from": "yesterday"}, "from"),
        ({"since": "not-a-cursor"}, "cursor"),
        ({"batch": "yes"}, "batch"),
    ],
)
async def test_bad_filters_or_cursor_get_an_error_then_4400(committed_world, params, field):
    comm = await opened(tail(params, token=committed_world.acme.keys["read"]))
    message = await next_message(comm)
    assert message["type"] == "error" and message["error"]["code"] == "validation_error", message
    assert field in message["error"]["details"], message
    assert await close_code(comm) == 4400
    await comm.disconnect()


@pytest.mark.asyncio
async def test_batch_mode_sends_what_is_ready_as_one_events_message(committed_world, marker, settings):
    """With batch=true a committed bulk arrives as one `events` message, in keyset order, each with its cursor."""
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_HEARTBEAT_SECONDS": 5}
    w = committed_world
    comm = await opened(tail({"source": marker, "batch": "true"}, token=w.acme.keys["read"]))
    single = await opened(tail({"source": marker}, token=w.acme.keys["read"]))
    ids = await written(w.acme.keys["ingest"], [event_body(source=marker, message=f"b {i}") for i in range(5)])
    message = await next_message(comm)
    assert message["type"] == "events" and set(message) == {"type", "events"}
    assert sorted(item["event"]["id"] for item in message["events"]) == sorted(ids)
    singles = await next_events(single, 5)
    assert [item["event"]["id"] for item in message["events"]] == [m["event"]["id"] for m in singles]
    assert [item["cursor"] for item in message["events"]] == [m["cursor"] for m in singles]
    assert [set(item) for item in message["events"]] == [{"event", "cursor"}] * 5
    assert await comm.receive_nothing(0.3)
    await comm.disconnect()
    await single.disconnect()
