"""Celery tasks of ingest: the outbox relay, sealing (the hash chain) and the event table's upkeep, fanned out
per tenant.

Tasks take no objects: tenant-schemas-celery runs each in the schema it was sent from.
"""

import time

from celery import shared_task
from django.db import connection
from django_redis import get_redis_connection
from django_tenants.utils import get_tenant_model, tenant_context
from tenant_schemas_celery.task import TenantTask

from .partitions import partitions_ensure
from .relay import relay_drain

RELAY_DEBOUNCE_MS = 250


def _relay_flag(schema_name: str) -> str:
    return f"auditlog:relay-pending:{schema_name}"


_last_kick: dict[str, float] = {}


def relay_kick(schema_name: str) -> None:
    """Ask for a relay run of this tenant, at most one queued per debounce window.

    The Redis flag debounces across processes; the process-local clock spares the hot
    path a Redis round trip per event. The beat sweep catches anything a skipped kick missed.
    """
    now = time.monotonic()
    if now - _last_kick.get(schema_name, 0.0) < RELAY_DEBOUNCE_MS / 1000:
        return
    _last_kick[schema_name] = now
    if get_redis_connection("default").set(_relay_flag(schema_name), 1, nx=True, px=RELAY_DEBOUNCE_MS):
        # Trailing edge: the run starts when the window closes, so it drains what the window committed.
        relay_outbox.apply_async(countdown=RELAY_DEBOUNCE_MS / 1000)


@shared_task(
    name="ingest.relay_outbox",
    base=TenantTask,
    autoretry_for=(Exception,),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=None,
)
def relay_outbox():
    # Cleared before draining: events committed from here on kick a new run, so no wake-up is lost.
    get_redis_connection("default").delete(_relay_flag(connection.schema_name))
    return relay_drain()


@shared_task(name="ingest.relay_all_tenants")
def relay_all_tenants():
    """Safety net (beat): relay every tenant with pending entries, e.g. after a worker died mid-batch."""
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            with connection.cursor() as cursor:
                cursor.execute("SELECT EXISTS (SELECT 1 FROM ingest_outbox)")
                pending = cursor.fetchone()[0]
            if pending:
                relay_outbox.delay()


@shared_task(name="ingest.ensure_partitions", base=TenantTask)
def ensure_partitions():
    return partitions_ensure()


@shared_task(name="ingest.ensure_partitions_all_tenants")
def ensure_partitions_all_tenants():
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            ensure_partitions.delay()


SEAL_QUEUED_MS = 5000  # a queued seal run of a tenant stands for this long; beat queues no second one meanwhile


def _seal_flag(schema_name: str) -> str:
    return f"auditlog:seal-queued:{schema_name}"


@shared_task(name="ingest.seal_events", base=TenantTask)
def seal_events():
    from .sealing import events_seal  # sealing kicks the relay from this module

    get_redis_connection("default").delete(_seal_flag(connection.schema_name))
    return events_seal()


@shared_task(name="ingest.seal_all_tenants")
def seal_all_tenants():
    """Beat: a seal run for every tenant with unsealed events, unless one is queued already."""
    from .sealing import sealing_pending

    redis = get_redis_connection("default")
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            if sealing_pending() and redis.set(_seal_flag(tenant.schema_name), 1, nx=True, px=SEAL_QUEUED_MS):
                seal_events.delay()
