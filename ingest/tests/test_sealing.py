"""Sealing: each tenant's committed events chained in (received_at, id) order, contiguous from 1, below the horizon.

Events are written through the real ingest path (the API, or events_record); sealing runs in the test's
transaction unless the test needs other connections (held-open transactions, concurrent sealers, a real worker):
those use committed writes and put the chain back as they found it.
"""

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection, connections, transaction
from django.utils import timezone

from conftest import event_body
from ingest import tasks
from ingest.models import Event, OutboxEntry
from ingest.relay import outbox_handler_register, relay_drain
from ingest.sealing import (
    CANONICAL_SQL,
    ZERO_HASH,
    ChainError,
    chain_head,
    events_seal,
    link_hash,
    sealed_handler_register,
    sealed_handler_unregister,
    sealing_pending,
)
from ingest.services import event_create, events_bulk_create
from ingest.tasks import seal_all_tenants
from tenants.models import Role

from .test_relay_worker import start_worker, stop, wait_for


def in_tenant(tenant):
    connection.set_tenant(tenant)


def post(tenant, n: int, **overrides) -> list[str]:
    """n events through the bulk write path of the tenant; returns their ids (as str)."""
    in_tenant(tenant)
    result = events_bulk_create(tenant_slug=tenant.slug, events=[event_body(**overrides) for _ in range(n)])
    return [str(i) for i in result["ids"]]


def chained(ids=None) -> list[Event]:
    """The current tenant's sealed events (of these ids), by sequence."""
    events = Event.objects.filter(sequence__isnull=False)
    if ids is not None:
        events = events.filter(id__in=ids)
    return list(events.order_by("sequence"))


def canonical_of(event_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {CANONICAL_SQL} FROM ingest_event WHERE id = %s", [event_id])
        return cursor.fetchone()[0]


@pytest.fixture
def acme(world):
    """acme's schema, with what earlier tests left unsealed sealed first (the test sees only its own events)."""
    in_tenant(world.acme.tenant)
    events_seal(margin=0)
    yield world.acme.tenant
    connection.set_schema_to_public()


def test_events_are_chained_in_received_order_contiguously(acme):
    start = chain_head()["sequence"]
    ids = post(acme, 3) + post(acme, 2)
    ids += [str(event_create(tenant_slug=acme.slug, body=event_body())[0].id)]
    assert events_seal(margin=0) == 6
    events = chained(ids)
    assert [e.sequence for e in events] == list(range(start + 1, start + 7))
    assert [str(e.id) for e in events] == [str(e.id) for e in sorted(events, key=lambda e: (e.received_at, e.id))]
    head = chain_head()
    assert head["sequence"] == start + 6 and head["hash"] == events[-1].hash and head["sealed_at"] is not None
    assert events_seal(margin=0) == 0  # nothing sealed twice


def test_the_hash_covers_the_previous_hash_the_sequence_and_the_stored_content(acme):
    start = chain_head()
    (first,) = post(acme, 1, message="card 4111 1111 1111 1111", metadata={"k": [1, 2.5, "v"]})
    events_seal(margin=0)
    event = Event.objects.get(id=first)
    canonical = canonical_of(first)
    assert "4111 1111 1111 1111" not in canonical and '"k": [1, 2.5, "v"]' in canonical  # masked as stored
    assert str(int(event.received_at.timestamp() * 1_000_000)) in canonical
    expected = hashlib.sha256(f"{start['hash']}\n{start['sequence'] + 1}\n{canonical}".encode()).hexdigest()
    assert event.hash == expected == link_hash(start["hash"], event.sequence, canonical)
    with connection.cursor() as cursor:  # anyone with the rows can recompute it, in SQL too
        cursor.execute(
            "SELECT encode(sha256(convert_to(%s || E'\\n' || sequence::text || E'\\n' || "
            f"{CANONICAL_SQL}, 'UTF8')), 'hex') FROM ingest_event WHERE id = %s",
            [start["hash"], first],
        )
        assert cursor.fetchone()[0] == event.hash


def test_encrypted_content_is_hashed_as_stored(acme):
    """The ciphertext is chained, not the clear value: verifying needs no key."""
    (event_id,) = post(acme, 1, changes={"before": {"plan": "secret-plan-1"}, "after": {"plan": "secret-plan-2"}})
    events_seal(margin=0)
    canonical = canonical_of(event_id)
    assert '"$enc"' in canonical and "secret-plan" not in canonical
    event = Event.objects.get(id=event_id)
    previous = Event.objects.get(sequence=event.sequence - 1).hash if event.sequence > 1 else ZERO_HASH
    assert event.hash == link_hash(previous, event.sequence, canonical)


def test_the_first_link_follows_sixty_four_zeros(acme):
    with connection.cursor() as cursor:  # a tenant with nothing sealed yet (rolled back with the test)
        cursor.execute("UPDATE ingest_event SET sequence = NULL, hash = NULL WHERE sequence IS NOT NULL")
        cursor.execute("UPDATE ingest_chain SET sequence = 0, hash = %s", [ZERO_HASH])
    post(acme, 1)
    events_seal(margin=0)
    first = Event.objects.get(sequence=1)
    assert first.hash == link_hash(ZERO_HASH, 1, canonical_of(first.id))


def test_events_received_within_the_margin_wait(acme):
    ids = post(acme, 2)
    assert events_seal(margin=60) == 0
    assert chained(ids) == []
    assert events_seal(margin=0) == 2


def test_an_event_committed_long_after_it_was_received_is_chained_late_never_skipped(acme, caplog, monkeypatch):
    """A process stalled between receiving and writing (past the margin and every open transaction's start):
    the event is behind the frontier, but not lost: the next full sweep chains it after newer ones, and the
    warning says so."""
    (newer,) = post(acme, 1)
    events_seal(margin=0)
    (stalled,) = post(acme, 1)
    Event.objects.filter(id=stalled).update(received_at=timezone.now() - timedelta(hours=1))
    assert events_seal(margin=0) == 0  # behind the frontier; the last full sweep was just now
    assert sealing_pending() is False
    monkeypatch.setattr("ingest.sealing.FULL_SWEEP_SECONDS", 0)  # a minute later
    assert sealing_pending() is True
    assert events_seal(margin=0) == 1
    assert Event.objects.get(id=stalled).sequence == Event.objects.get(id=newer).sequence + 1
    assert "chained after one received at" in caplog.text


def test_the_sealer_stops_rather_than_start_a_second_chain_without_its_head(acme):
    post(acme, 1)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ingest_chain")
    with pytest.raises(ChainError, match="head .* is missing"):
        events_seal(margin=0)


def test_the_api_shows_the_sequence_and_hash_once_sealed(acme, world, api):
    (event_id,) = post(acme, 1)
    client = api(world.acme.tokens[Role.AUDITOR])
    assert "sequence" not in client.get(f"/api/v1/logs/{event_id}").json()
    in_tenant(acme)
    events_seal(margin=0)
    body = client.get(f"/api/v1/logs/{event_id}").json()
    event = Event.objects.get(id=event_id)
    assert (body["sequence"], body["hash"]) == (event.sequence, event.hash)


def test_events_in_every_partition_are_sealed(acme):
    now = timezone.now()
    times = [now - timedelta(days=d) for d in (0, 40, 75, 400)]  # this month, the two before, the default partition
    ids = []
    for at in times:
        ids += post(acme, 1, occurred_at=at.isoformat())
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM ingest_event WHERE id = ANY(%s::uuid[])", [ids])
        assert len(cursor.fetchall()) == 4
    assert events_seal(margin=0) == 4
    assert len(chained(ids)) == 4


def test_batches_continue_the_chain(acme):
    start = chain_head()["sequence"]
    ids = post(acme, 7)
    assert events_seal(margin=0, batch_size=3) == 7
    events = chained(ids)
    assert [e.sequence for e in events] == list(range(start + 1, start + 8))
    for before, after in zip(events, events[1:], strict=False):
        assert after.hash == link_hash(before.hash, after.sequence, canonical_of(after.id))


def test_tenants_have_chains_of_their_own(acme, world):
    acme_start = chain_head()["sequence"]
    in_tenant(world.globex.tenant)
    events_seal(margin=0)
    globex_start = chain_head()["sequence"]
    acme_ids = post(acme, 3)
    globex_ids = post(world.globex.tenant, 2)
    in_tenant(acme)
    assert events_seal(margin=0) == 3
    assert [e.sequence for e in chained(acme_ids)] == [acme_start + 1, acme_start + 2, acme_start + 3]
    in_tenant(world.globex.tenant)
    assert chained(globex_ids) == [] and chain_head()["sequence"] == globex_start
    assert events_seal(margin=0) == 2
    assert [e.sequence for e in chained(globex_ids)] == [globex_start + 1, globex_start + 2]


def test_the_beat_task_seals_every_tenant(acme, world):
    in_tenant(world.globex.tenant)
    events_seal(margin=0)
    acme_ids, globex_ids = post(acme, 2), post(world.globex.tenant, 2)
    time.sleep(0.6)  # past the sealing margin
    connection.set_schema_to_public()
    seal_all_tenants.delay()  # eager in tests: each tenant's seal_events runs in its schema
    in_tenant(acme)
    assert len(chained(acme_ids)) == 2
    in_tenant(world.globex.tenant)
    assert len(chained(globex_ids)) == 2


def test_handlers_that_ask_for_sealed_events_get_them_again_with_their_hash(acme):
    seen: list[Event] = []
    outbox_handler_register("test-sealed", lambda events: seen.extend(events))
    sealed_handler_register("test-sealed")
    try:
        ids = post(acme, 3)
        relay_drain()
        assert sorted(str(e.id) for e in seen) == sorted(ids) and {e.sequence for e in seen} == {None}
        seen.clear()
        events_seal(margin=0)
        entries = OutboxEntry.objects.filter(event_id__in=ids)
        assert [e.pending for e in entries] == [["test-sealed"]] * 3  # for that handler only
        relay_drain()
        assert sorted(str(e.id) for e in seen) == sorted(ids) and all(e.sequence and e.hash for e in seen)
        assert not OutboxEntry.objects.filter(event_id__in=ids).exists()
    finally:
        sealed_handler_unregister("test-sealed")
        from ingest.relay import _HANDLERS

        _HANDLERS.pop("test-sealed", None)


# Committed writes, other connections: the chain is put back as it was found (other tests seal in transactions).


def _chain_reset():
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ingest_event SET sequence = NULL, hash = NULL WHERE sequence IS NOT NULL")
        cursor.execute(
            "UPDATE ingest_chain SET sequence = 0, hash = %s, sealed_at = NULL, swept_at = NULL", [ZERO_HASH]
        )
        cursor.execute("DELETE FROM ingest_chain_anchor")


@pytest.fixture
def committed_acme(committed_world):
    """acme with a fresh chain, committed writes; afterwards every test tenant's chain as if nothing was sealed
    (a real worker's sweep seals every tenant)."""
    tenant = committed_world.acme.tenant
    in_tenant(tenant)
    _chain_reset()
    yield tenant
    for each in (committed_world.acme.tenant, committed_world.globex.tenant):
        in_tenant(each)
        _chain_reset()
    connection.set_schema_to_public()


def _in_thread(target, *args):
    """Run target in a thread of its own (its own database connection); returns the thread, started."""

    def run():
        try:
            target(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_transaction_held_open_is_neither_skipped_nor_chained_out_of_order(committed_acme, marker):
    written, release = threading.Event(), threading.Event()
    held: list[str] = []

    def slow_writer():
        in_tenant(committed_acme)
        with transaction.atomic():
            held.append(str(event_create(tenant_slug=committed_acme.slug, body=event_body(source=marker))[0].id))
            written.set()
            release.wait(30)

    before = post(committed_acme, 2, source=marker)
    thread = _in_thread(slow_writer)
    try:
        assert written.wait(30)
        after = post(committed_acme, 3, source=marker)  # received after the held one, committed before it
        in_tenant(committed_acme)
        assert events_seal(margin=0) == 2  # only what was received before the open transaction began
        assert {str(e.id) for e in chained()} == set(before)
    finally:
        release.set()
        thread.join(30)
    in_tenant(committed_acme)
    assert events_seal(margin=0) == 4
    events = chained(before + held + after)
    assert [str(e.id) for e in events] == sorted(before) + held + sorted(after)  # a bulk's events: by id
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5, 6]


def test_a_writing_transaction_open_too_long_stops_holding_sealing_back(committed_acme, marker, monkeypatch):
    monkeypatch.setattr("ingest.sealing.HORIZON_WAIT_SECONDS", 0.5)  # a forgotten session, say
    written, release = threading.Event(), threading.Event()

    def forgotten():
        in_tenant(committed_acme)
        with transaction.atomic():
            event_create(tenant_slug=committed_acme.slug, body=event_body(source=marker))
            written.set()
            release.wait(30)

    thread = _in_thread(forgotten)
    try:
        assert written.wait(30)
        ids = post(committed_acme, 2, source=marker)
        in_tenant(committed_acme)
        assert events_seal(margin=0) == 0  # held back while the transaction is recent
        time.sleep(0.6)
        assert events_seal(margin=0) == 2
        assert len(chained(ids)) == 2
    finally:
        release.set()
        thread.join(30)


def test_a_reading_transaction_does_not_hold_sealing_back(committed_acme, marker):
    started, release = threading.Event(), threading.Event()

    def reader():
        in_tenant(committed_acme)
        with transaction.atomic():
            Event.objects.count()  # a long read (an export, say): no transaction id
            started.set()
            release.wait(30)

    thread = _in_thread(reader)
    try:
        assert started.wait(30)
        ids = post(committed_acme, 2, source=marker)
        in_tenant(committed_acme)
        assert events_seal(margin=0) == 2
        assert len(chained(ids)) == 2
    finally:
        release.set()
        thread.join(30)


def test_ingestion_does_not_wait_for_a_sealer_at_work(committed_acme, marker, monkeypatch):
    """A sealer holding its lock, the chain head and its picked rows in an open transaction: events still go in."""
    from ingest import sealing

    picked, release = threading.Event(), threading.Event()
    real_link_hash = sealing.link_hash

    def slow_link_hash(*args):
        picked.set()
        release.wait(30)
        return real_link_hash(*args)

    post(committed_acme, 3, source=marker)
    monkeypatch.setattr(sealing, "link_hash", slow_link_hash)

    def sealer():
        in_tenant(committed_acme)
        events_seal(margin=0)

    thread = _in_thread(sealer)
    try:
        assert picked.wait(30)
        started = time.monotonic()
        ids = post(committed_acme, 2, source=marker) + [
            str(event_create(tenant_slug=committed_acme.slug, body=event_body(source=marker))[0].id)
        ]
        assert time.monotonic() - started < 5
        in_tenant(committed_acme)
        assert Event.objects.filter(id__in=ids).count() == 3
        assert events_seal(margin=0) == 0  # the sealer at work has the tenant's lock: this one gives way
    finally:
        release.set()
        thread.join(30)
    in_tenant(committed_acme)
    assert events_seal(margin=0) == 3
    assert chain_head()["sequence"] == 6


def test_two_sealers_at_once_never_seal_an_event_twice(committed_acme, marker):
    ids = [i for _ in range(3) for i in post(committed_acme, 1000, source=marker)]
    go = threading.Barrier(3)
    counts: list[int] = []

    def sealer():
        in_tenant(committed_acme)
        go.wait()
        total, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline and (sealing_pending() or total == 0):
            total += events_seal(margin=0, batch_size=100)
        counts.append(total)

    threads = [_in_thread(sealer), _in_thread(sealer)]
    go.wait()
    for thread in threads:
        thread.join(60)
    assert sum(counts) == 3000
    in_tenant(committed_acme)
    events = chained(ids)
    assert [e.sequence for e in events] == list(range(1, 3001))
    for before, after in zip(events, events[1:], strict=False):
        assert after.hash == link_hash(before.hash, after.sequence, canonical_of(after.id))
    assert chain_head()["sequence"] == 3000


@pytest.fixture
def real_worker(committed_acme):
    current_app.conf.task_always_eager = False
    tasks._last_kick.clear()
    worker = start_worker("sealer")
    try:
        yield committed_acme
    finally:
        stop(worker)
        current_app.conf.task_always_eager = True


def test_a_real_worker_seals_what_beat_asks_for(real_worker, marker):
    from django_redis import get_redis_connection

    get_redis_connection("default").delete(tasks._seal_flag(real_worker.schema_name))
    ids = post(real_worker, 20, source=marker)
    connection.set_schema_to_public()
    time.sleep(0.6)  # past the margin
    sent = [0.0]

    def sealed():
        if time.monotonic() - sent[0] > 2:  # what beat sends every second (a few, should another worker take one)
            connection.set_schema_to_public()
            seal_all_tenants.delay()
            sent[0] = time.monotonic()
        in_tenant(real_worker)
        return len(chained(ids)) == 20

    assert wait_for(sealed), "the worker did not seal the events"
    assert [e.sequence for e in chained(ids)] == list(range(1, 21))
