"""The live tail's feed: a process's connections to one tenant share one subscription to its group, which ends
with the last of them; each connection still gets what its own filter and audience select."""

import asyncio

import pytest

from conftest import event_body
from ingest.live import live_group
from search import consumers
from tenants.models import Role

from .stream_support import next_events, opened, tail, written


def _feed(tenant):
    return consumers._FEEDS.get(live_group(tenant.schema_name))


async def _joined(tenant, count: int):
    """The tenant's feed once `count` connections are on it (a connection joins right after its handshake)."""
    async with asyncio.timeout(5):
        while _feed(tenant) is None or len(_feed(tenant).consumers) != count:
            await asyncio.sleep(0.01)
    return _feed(tenant)


@pytest.mark.asyncio
async def test_connections_of_a_tenant_share_one_feed_which_ends_with_the_last(committed_world, marker):
    w = committed_world
    everything = await opened(tail({"source": marker}, token=w.acme.keys["read"]))
    errors = await opened(tail({"source": marker, "severity": "ERROR"}, token=w.acme.tokens[Role.AUDITOR]))
    globex = await opened(tail({"source": marker}, token=w.globex.keys["read"]))
    feed = await _joined(w.acme.tenant, 2)  # one subscription for acme's two connections
    assert await _joined(w.globex.tenant, 1) is not feed

    ids = await written(w.acme.keys["ingest"], [event_body(source=marker), event_body(source=marker, severity="ERROR")])
    assert sorted(m["event"]["id"] for m in await next_events(everything, 2)) == sorted(ids)
    assert [m["event"]["id"] for m in await next_events(errors, 1)] == ids[1:]
    assert await globex.receive_nothing(0.3)

    await everything.disconnect()
    assert _feed(w.acme.tenant) is feed and len(feed.consumers) == 1
    await errors.disconnect()
    assert _feed(w.acme.tenant) is None and feed.receiver.done()  # the last one out ended the subscription

    again = await opened(tail({"source": marker}, token=w.acme.keys["read"]))
    assert await _joined(w.acme.tenant, 1) is not feed  # a new feed, live again
    ids = await written(w.acme.keys["ingest"], [event_body(source=marker)])
    assert [m["event"]["id"] for m in await next_events(again, 1)] == ids
    await again.disconnect()
    await globex.disconnect()
    assert _feed(w.globex.tenant) is None
