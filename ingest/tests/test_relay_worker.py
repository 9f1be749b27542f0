"""The relay in a real Celery worker process against Redis: it drains, and nothing is lost when it dies mid-batch."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from conftest import event_body
from ingest import tasks
from ingest.models import Event, OutboxEntry
from ingest.tasks import relay_all_tenants
from ingest.tests.relay_probe import probe_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def committed(django_db_setup, django_db_blocker, marker):
    from conftest import _WORLD

    world = _WORLD[0]
    redis = get_redis_connection("default")
    with django_db_blocker.unblock():
        connection.set_tenant(world.acme.tenant)
        OutboxEntry.objects.all().delete()  # leftovers of earlier tests would muddle the counts
        connection.set_schema_to_public()
        redis.delete(probe_key(world.acme.tenant.schema_name), probe_key(world.acme.tenant.schema_name) + ":started")
        current_app.conf.task_always_eager = False
        # Eager runs of earlier tests left this process's debounce clock running; a new process starts without.
        tasks._last_kick.clear()
        try:
            yield world
        finally:
            current_app.conf.task_always_eager = True
            connection.set_tenant(world.acme.tenant)
            Event.objects.filter(source=marker).delete()
            OutboxEntry.objects.all().delete()
            connection.set_schema_to_public()


def start_worker(name: str, delay: float = 0) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "auditlog.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}",
        "TEST_REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "RELAY_PROBE_DELAY": str(delay),
    }
    command = [sys.executable, "-m", "celery", "-A", "auditlog", "worker", "--pool", "solo", "--without-heartbeat",
               "--without-gossip", "--without-mingle", "-n", f"{name}@%h", "--include", "ingest.tests.relay_probe",
               "--loglevel", "warning"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def stop(worker: subprocess.Popen, sig=signal.SIGTERM):
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        worker.wait(timeout=30)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def pending(tenant) -> int:
    connection.set_tenant(tenant)
    try:
        return OutboxEntry.objects.count()
    finally:
        connection.set_schema_to_public()


def post_events(world, api, marker, n) -> list[str]:
    client = api(world.acme.keys["ingest"])
    response = client.post(
        "/api/v1/logs/bulk", {"events": [event_body(source=marker) for _ in range(n)]}, format="json"
    )
    assert response.status_code == 201
    return response.json()["ids"]


def relayed(world) -> list[str]:
    return [v.decode() for v in get_redis_connection("default").lrange(probe_key(world.acme.tenant.schema_name), 0, -1)]


def test_a_real_worker_drains_the_outbox_after_commit(committed, api, marker):
    worker = start_worker("relay-a")
    try:
        ids = post_events(committed, api, marker, 50)  # commits; the kick queues a relay task on Redis
        time.sleep(0.1)
        ids += post_events(committed, api, marker, 30)  # inside the debounce window: no second task queued
        assert wait_for(lambda: pending(committed.acme.tenant) == 0), "the worker did not drain the outbox"
        assert sorted(relayed(committed)) == sorted(ids)
    finally:
        stop(worker)


def test_nothing_is_lost_when_the_worker_dies_mid_batch(committed, api, marker):
    redis = get_redis_connection("default")
    slow = start_worker("relay-slow", delay=30)
    try:
        ids = post_events(committed, api, marker, 40)
        started = probe_key(committed.acme.tenant.schema_name) + ":started"
        assert wait_for(lambda: redis.exists(started)), "the worker never started the batch"
        stop(slow, signal.SIGKILL)  # dies inside the batch's transaction
    finally:
        stop(slow, signal.SIGKILL)
    assert pending(committed.acme.tenant) == 40, "the killed batch must still be in the outbox"
    assert relayed(committed) == []

    worker = start_worker("relay-b")
    try:
        relay_all_tenants.delay()  # what beat does every few seconds
        assert wait_for(lambda: pending(committed.acme.tenant) == 0), "the second worker did not relay the batch"
        assert sorted(relayed(committed)) == sorted(ids)
    finally:
        stop(worker)
