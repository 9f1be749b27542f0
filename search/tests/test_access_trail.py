"""The access trail: every read leaves one event (source `auditlog`) in the reader's tenant, written after the
response in one bulk write per tenant; Users and read keys never see it, Auditors and Admins do.

Reads go through the real middleware, views and consumer; trail_flush() writes what they left, so each test
sees exactly its own reads (trail_discard() first forgets what earlier tests' reads left unflushed).
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from rest_framework.test import APIClient

from conftest import event_body
from ingest.live import live_flush
from ingest.models import Event, OutboxEntry
from ingest.relay import relay_drain
from ingest.services import events_record
from search.backends.postgres import filtered
from search.cursor import cursor_encode
from search.filters import parse_filters
from search.matching import event_matches
from search.mirror.documents import document_source
from search.trail import filters_of, trail_discard, trail_event, trail_flush
from tenants.models import ApiKey, Role
from tenants.principal import Principal

from .stream_support import close_code, next_events, opened, tail
from .test_query_plans import SORT_NODE

URL = "/api/v1/logs"
TRAIL = "auditlog"
EPOCH = cursor_encode(datetime(2000, 1, 1, tzinfo=UTC), uuid.UUID(int=0))  # a `since` before every event


@pytest.fixture(autouse=True)
def fresh_trail():
    trail_discard()
    yield
    trail_discard()


def _mentioning(marker: str):
    """Trail events whose metadata (the filters read with) mention the marker."""
    return Event.objects.filter(source=TRAIL).filter(
        RawSQL("metadata::text LIKE %s", [f"%{marker}%"], output_field=BooleanField())
    )


def trail_of(tenant, marker: str) -> list[Event]:
    connection.set_tenant(tenant)
    try:
        return list(_mentioning(marker).order_by("occurred_at", "id"))
    finally:
        connection.set_schema_to_public()


def trail_count(tenant) -> int:
    connection.set_tenant(tenant)
    try:
        return Event.objects.filter(source=TRAIL).count()
    finally:
        connection.set_schema_to_public()


def post(api, world, bodies) -> list[str]:
    response = api(world.acme.keys["ingest"]).post(f"{URL}/bulk", {"events": bodies}, format="json")
    assert response.status_code == 201, response.content
    return [str(i) for i in response.json()["ids"]]


def test_a_list_leaves_one_search_event_with_the_caller_and_the_filters(world, api, marker):
    user = world.acme.users[Role.USER]
    post(api, world, [event_body(source=marker), event_body(source=marker, action="LOGIN")])
    response = api(world.acme.tokens[Role.USER]).get(
        URL,
        {"source": marker, "action": "login", "limit": 5},
        HTTP_USER_AGENT="curl/8.5",
        HTTP_X_REQUEST_ID="req-42",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200 and len(response.json()["results"]) == 1
    assert trail_of(world.acme.tenant, marker) == [], "written after the response, not during the read"

    assert trail_flush() == 1
    (event,) = trail_of(world.acme.tenant, marker)
    assert (event.action, event.resource_type, event.resource_id, event.severity) == ("SEARCH", "log", None, "INFO")
    assert (event.actor_id, event.actor_type, event.actor_name) == (f"user:{user.pk}", "user", user.username)
    assert (event.ip, event.user_agent, event.request_id) == ("203.0.113.9", "curl/8.5", "req-42")
    assert event.metadata == {"route": "log-list", "filters": {"source": marker, "action": "LOGIN"}, "results": 1}
    assert trail_of(world.globex.tenant, marker) == []


def test_a_detail_leaves_one_view_event_naming_the_event_and_the_key(world, api, marker):
    (event_id,) = post(api, world, [event_body(source=marker)])
    assert api(world.acme.keys["read"]).get(f"{URL}/{event_id}").status_code == 200
    assert trail_flush() == 1
    connection.set_tenant(world.acme.tenant)
    try:
        (event,) = Event.objects.filter(source=TRAIL, resource_id=event_id)
    finally:
        connection.set_schema_to_public()
    assert (event.action, event.resource_type, event.actor_type) == ("VIEW", "event", "service")
    assert event.actor_id.startswith("apikey:") and event.actor_name == "read key"
    assert event.metadata == {"route": "log-detail", "filters": {}}
    connection.set_tenant(world.globex.tenant)
    try:
        assert not Event.objects.filter(resource_id=event_id).exists()
    finally:
        connection.set_schema_to_public()


def test_following_next_is_recorded_as_a_next_page(world, api, marker):
    post(api, world, [event_body(source=marker) for _ in range(3)])
    client = api(world.acme.tokens[Role.AUDITOR])
    first = client.get(URL, {"source": marker, "limit": 2}).json()
    assert client.get(first["next"]).status_code == 200
    assert trail_flush() == 2
    pages = trail_of(world.acme.tenant, marker)
    assert [(e.metadata["results"], e.metadata.get("next_page")) for e in pages] == [(2, None), (1, True)]


def test_a_read_with_huge_filters_is_still_recorded(world):
    """The live tail's query string has no length cap: its filters are cut to what an event holds."""
    values = ",".join(f"{i:03d}" + "x" * 252 for i in range(50))
    huge = {name: values for name in ("actor_id", "resource_id", "request_id", "session_id", "correlation_id")}
    huge.update({"metadata." + ".".join([f"{i:02d}" + "k" * 62] * 5): "v" * 256 for i in range(20)})
    f = parse_filters(QueryDict(urlencode(huge)))[0]
    key = ApiKey.objects.get(tenant=world.acme.tenant, name="read key")
    principal = Principal(kind="key", tenant=world.acme.tenant, api_key=key, scopes=frozenset(key.scopes))
    body = trail_event("log-stream", principal, filters=filters_of(f))
    assert events_record(world.acme.tenant, [body]) == 1
    recorded = body["metadata"]["filters"]
    assert recorded["actor_id"].endswith("…") and "more filters not recorded" in recorded["…"]


@pytest.mark.parametrize(
    "credential, path, status",
    [
        (None, URL, 401),
        ("not-a-token", URL, 401),
        ("revoked", URL, 401),
        ("ingest", URL, 403),
        ("export", URL, 403),
        ("read", URL + "?severity=nope", 400),
        ("read", URL + "?nonsense=1", 400),
        ("read", URL + "/00000000-0000-7000-8000-000000000000", 404),
        ("read", URL + "/not-a-uuid", 404),
    ],
)
def test_refused_or_failed_reads_record_nothing(world, api, credential, path, status):
    raw = world.acme.keys.get(credential, credential) if credential else None
    assert api(raw).get(path).status_code == status
    assert trail_flush() == 0


def test_another_tenants_event_is_a_404_and_records_nothing(world, api, marker):
    (event_id,) = post(api, world, [event_body(source=marker)])
    assert api(world.globex.tokens[Role.ADMIN]).get(f"{URL}/{event_id}").status_code == 404
    assert trail_flush() == 0


def test_writes_are_not_reads(world, api, marker):
    post(api, world, [event_body(source=marker)])
    assert api(world.acme.keys["ingest"]).post(URL, event_body(source=marker), format="json").status_code == 201
    assert trail_flush() == 0


def test_clients_cannot_write_events_in_the_name_of_the_trail(world, api, marker):
    ingest = api(world.acme.keys["ingest"])
    single = ingest.post(URL, event_body(source=TRAIL), format="json")
    assert single.status_code == 400 and "source" in single.json()["error"]["details"]
    bulk = ingest.post(f"{URL}/bulk", {"events": [event_body(source=marker), event_body(source=TRAIL)]}, format="json")
    assert bulk.status_code == 400 and list(bulk.json()["error"]["details"]) == ["events.1.source"]
    connection.set_tenant(world.acme.tenant)
    try:
        assert not Event.objects.filter(source=marker).exists(), "all or nothing"
    finally:
        connection.set_schema_to_public()


def test_writing_the_trail_records_nothing_and_reading_it_is_recorded_once(world, api, marker):
    auditor = api(world.acme.tokens[Role.AUDITOR])
    assert auditor.get(URL, {"source": marker}).status_code == 200
    assert trail_flush() == 1
    assert trail_flush() == 0, "writing trail events must not record trail events"
    read = auditor.get(URL, {"source": TRAIL, "q": marker})
    assert [e["action"] for e in read.json()["results"]] == ["SEARCH"]
    assert trail_flush() == 1
    assert trail_flush() == 0
    assert [e.metadata["filters"] for e in trail_of(world.acme.tenant, marker)] == [
        {"source": marker},
        {"source": TRAIL, "q": marker},
    ]


def test_users_and_read_keys_never_see_the_trail_auditors_and_admins_do(world, api, marker):
    """Searches, filters on source, pages and details: the trail is out of a restricted reader's sight."""
    normal = post(api, world, [event_body(source=marker, message=f"{marker} {i}") for i in range(3)])
    auditor = api(world.acme.tokens[Role.AUDITOR])
    for _ in range(2):
        assert auditor.get(URL, {"q": marker}).status_code == 200
    assert trail_flush() == 2
    trail_ids = [str(e.id) for e in trail_of(world.acme.tenant, marker)]

    def every_page(client, **params) -> list[str]:
        ids, page = [], client.get(URL, {**params, "limit": 1}).json()
        while True:
            ids += [e["id"] for e in page["results"]]
            if not page["next"]:
                return ids
            page = client.get(page["next"]).json()

    for restricted in (api(world.acme.tokens[Role.USER]), api(world.acme.keys["read"])):
        assert sorted(every_page(restricted, q=marker)) == sorted(normal)
        assert restricted.get(URL, {"source": TRAIL, "limit": 1000}).json()["results"] == []
        assert all(e["source"] != TRAIL for e in restricted.get(URL, {"limit": 1000}).json()["results"])
        assert restricted.get(f"{URL}/{trail_ids[0]}").status_code == 404
        assert restricted.get(f"{URL}/{normal[0]}").status_code == 200
    for full in (auditor, api(world.acme.tokens[Role.ADMIN])):
        # The trail holds reads of the restricted readers too (recorded, only not shown to them).
        assert set(every_page(full, q=marker)) >= {*normal, *trail_ids}
        assert set(trail_ids) <= {e["id"] for e in full.get(URL, {"source": TRAIL, "q": marker}).json()["results"]}
        assert full.get(f"{URL}/{trail_ids[0]}").json()["source"] == TRAIL


def test_the_exclusion_keeps_the_first_page_an_ordered_index_read(world):
    connection.set_tenant(world.acme.tenant)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        for query, index in [("", "_pkey"), ("actor_id=alice", "_actor_id_occurred_at_id_idx")]:
            f = parse_filters(QueryDict(query))[0]
            f.access_trail = False
            text = filtered(f).order_by("-occurred_at", "-id")[:51].explain()
            assert "Index Scan Backward" in text and index in text, text
            assert not SORT_NODE.search(text) and "auditlog" in text, text
    finally:
        connection.set_schema_to_public()


def test_the_live_tail_matcher_and_the_mirror_leave_out_what_postgres_leaves_out(world, api, marker):
    """The three backends of the filter language agree on the exclusion, on the same stored events."""
    post(api, world, [event_body(source=marker, message=marker), event_body(message=marker)])
    assert api(world.acme.tokens[Role.ADMIN]).get(URL, {"q": marker}).status_code == 200
    assert trail_flush() == 1
    f = parse_filters(QueryDict(urlencode({"q": marker})))[0]
    connection.set_tenant(world.acme.tenant)
    try:
        stored = list(filtered(f))
        for access_trail in (True, False):
            f.access_trail = access_trail
            postgres = {str(e.id) for e in filtered(f)}
            live = {str(e.id) for e in stored if event_matches(f, _api_shape(e))}
            mirror = {doc["id"] for doc in map(document_source, stored) if access_trail or doc["source"] != TRAIL}
            assert postgres == live == mirror
            assert len(postgres) == (3 if access_trail else 2)
    finally:
        connection.set_schema_to_public()


def _api_shape(event: Event) -> dict:
    from ingest.representation import event_json

    return event_json(event)


def test_the_mirror_hides_the_trail_from_restricted_readers(world, api, marker, es):
    assert api(world.acme.tokens[Role.AUDITOR]).get(URL, {"source": marker}).status_code == 200
    assert trail_flush() == 1
    connection.set_tenant(world.acme.tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()
    (event,) = trail_of(world.acme.tenant, marker)
    assert str(event.id) in es.docs("auditlog-t_acme")
    assert api(world.acme.keys["read"]).get(f"{URL}/{event.id}").status_code == 404
    assert api(world.acme.tokens[Role.AUDITOR]).get(f"{URL}/{event.id}").status_code == 200
    assert api(world.acme.keys["read"]).get(URL, {"source": marker}).status_code == 200
    full, *_, restricted = (call.body["query"] for call in es.calls("POST", "/auditlog-t_acme/_search"))
    hidden = {"bool": {"must_not": [{"term": {"source": TRAIL}}]}}
    assert hidden in restricted["bool"]["filter"] and hidden not in full["bool"]["filter"]


# Committed: trail events written by their own transactions, the background writer, the live tail.


def _cleanup(world, marker) -> None:
    for tw in (world.acme, world.globex):
        connection.set_tenant(tw.tenant)
        ids = list(_mentioning(marker).values_list("id", flat=True))
        OutboxEntry.objects.filter(event_id__in=ids).delete()
        _mentioning(marker).delete()
    connection.set_schema_to_public()


@pytest.fixture
def committed(committed_world, marker):
    yield committed_world
    _cleanup(committed_world, marker)


def _read(credential: str, params: dict) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    try:
        return client.get(URL, params).status_code
    finally:
        connection.close()


def _transactions(tenant, marker) -> int:
    connection.set_tenant(tenant)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(DISTINCT xmin::text) FROM ingest_event WHERE source = %s AND metadata::text LIKE %s",
                [TRAIL, f"%{marker}%"],
            )
            return cursor.fetchone()[0]
    finally:
        connection.set_schema_to_public()


def test_many_reads_are_written_as_one_bulk_write_per_tenant(committed, marker):
    w = committed
    for i in range(20):
        assert _read(w.acme.keys["read"], {"source": marker, "limit": i + 1}) == 200
    for _ in range(5):
        assert _read(w.globex.tokens[Role.USER], {"source": marker}) == 200
    assert trail_flush() == 25
    assert len(trail_of(w.acme.tenant, marker)) == 20 and len(trail_of(w.globex.tenant, marker)) == 5
    assert _transactions(w.acme.tenant, marker) == 1 and _transactions(w.globex.tenant, marker) == 1
    assert trail_flush() == 0


def test_the_background_writer_writes_soon_after_the_response(committed, marker, settings):
    settings.AUDITLOG = {**settings.AUDITLOG, "TRAIL_FLUSH_SECONDS": 0.3}
    assert _read(committed.acme.tokens[Role.AUDITOR], {"source": marker}) == 200
    assert trail_of(committed.acme.tenant, marker) == [], "not written on the reader's path"
    deadline = time.monotonic() + 10
    while not (events := trail_of(committed.acme.tenant, marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e.action for e in events] == ["SEARCH"]


async def _flushed() -> int:
    def flush():
        try:
            written = trail_flush()
            live_flush()
            return written
        finally:
            connection.close()

    return await asyncio.to_thread(flush)


@pytest.mark.asyncio
async def test_a_stream_subscription_leaves_one_subscribe_event(committed, marker):
    w = committed
    user = w.acme.users[Role.USER]
    comm = await opened(
        tail({"source": marker, "since": EPOCH}, header=w.acme.tokens[Role.USER], headers=[(b"user-agent", b"tail/1")])
    )
    await comm.disconnect()
    assert await _flushed() == 1
    (event,) = await asyncio.to_thread(trail_of, w.acme.tenant, marker)
    assert (event.action, event.resource_type, event.actor_id) == ("SUBSCRIBE", "log", f"user:{user.pk}")
    assert event.user_agent == "tail/1"
    assert event.metadata == {"route": "log-stream", "filters": {"source": marker}, "replay": True}


@pytest.mark.asyncio
async def test_refused_or_invalid_subscriptions_record_nothing(committed, marker):
    w = committed
    for params, credential, code in [
        ({"source": marker}, w.acme.keys["ingest"], 4403),
        ({"source": marker}, "not-a-token", 4401),
        ({"source": marker, "severity": "nope"}, w.acme.keys["read"], 4400),
    ]:
        comm = tail(params, token=credential)
        connected, _ = await comm.connect(timeout=5)
        assert connected
        if code == 4400:
            await comm.receive_from(5)  # the error message
        assert await close_code(comm) == code
    assert await _flushed() == 0


@pytest.mark.asyncio
async def test_the_live_tail_shows_the_trail_to_auditors_only_live_and_replayed(committed, marker):
    w = committed
    watch = {"metadata.filters.source": marker}  # the trail events of reads filtered on the marker
    auditor = await opened(tail(watch, token=w.acme.tokens[Role.AUDITOR]))
    user = await opened(tail(watch, token=w.acme.tokens[Role.USER]))
    reader = await opened(tail(watch, token=w.acme.keys["read"]))
    assert await asyncio.to_thread(_read, w.acme.tokens[Role.ADMIN], {"source": marker}) == 200
    assert await _flushed() == 4  # the read and the three subscriptions
    (live,) = await next_events(auditor, 1)
    assert live["event"]["source"] == TRAIL and live["event"]["action"] == "SEARCH"
    assert await user.receive_nothing(0.5) and await reader.receive_nothing(0.1)

    since = {**watch, "since": EPOCH}
    replayed = await opened(tail(since, token=w.acme.tokens[Role.AUDITOR]))
    assert [m["event"]["id"] for m in await next_events(replayed, 1)] == [live["event"]["id"]]
    restricted = await opened(tail(since, token=w.acme.tokens[Role.USER]))
    assert await restricted.receive_nothing(0.5)
    for comm in (auditor, user, reader, replayed, restricted):
        await comm.disconnect()
