"""The outbox relay: drains a tenant's outbox in batches and hands each batch to the registered handlers.

The relay knows no consumer by name. Apps register handlers in their AppConfig.ready()
(the search mirror, later rollups and alerts). A handler gets the batch's Event objects
inside the tenant's schema and a transaction of its own; it must be idempotent, because a
batch whose transaction did not commit (a crash, a handler error) is handed over again.

Each entry records the handlers done with it (`done`), and goes once all are: a handler that
fails (the mirror down) holds back neither the others nor later events for them; its own
backlog waits in the outbox, visible as relay lag, until a retry gets through.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from .models import Event, OutboxEntry

logger = logging.getLogger(__name__)

Handler = Callable[[list[Event]], None]
_HANDLERS: dict[str, Handler] = {}
BATCH_SIZE = 500


def outbox_handler_register(name: str, handler: Handler) -> None:
    _HANDLERS[name] = handler


def outbox_handlers() -> dict[str, Handler]:
    return dict(_HANDLERS)


def relay_drain(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> int:
    """Drain the current tenant's outbox, handler by handler; returns how many entries every handler is done with.

    Concurrent relays of one tenant split the work (SKIP LOCKED); a handler's batch is marked done in the
    transaction that ran it, so each handler sees each event at least once. A failing handler stops only
    its own draining; the first failure is raised once the others have drained (the task retries).
    """
    failure: Exception | None = None
    for name, handler in list(_HANDLERS.items()):
        try:
            _drain_for(name, handler, batch_size=batch_size, max_batches=max_batches)
        except Exception as exc:  # noqa: BLE001 - raised below, after the other handlers ran
            logger.warning("relay handler %s failed in %s: %r", name, connection.schema_name, exc)
            failure = failure or exc
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ingest_outbox WHERE done @> %s::text[]", [list(_HANDLERS)])
        relayed = cursor.rowcount
    if relayed:
        logger.info("relayed %d events in %s", relayed, connection.schema_name)
    if failure is not None:
        raise failure
    return relayed


def _drain_for(name: str, handler: Handler, *, batch_size: int, max_batches: int | None) -> None:
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            entries = list(
                OutboxEntry.objects.select_for_update(skip_locked=True)
                .exclude(done__contains=[name])
                .order_by("id")[:batch_size]
            )
            if not entries:
                return
            handler(
                list(
                    Event.objects.filter(
                        id__in=[e.event_id for e in entries],
                        occurred_at__in={e.occurred_at for e in entries},  # lets the planner prune partitions
                    )
                )
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE ingest_outbox SET done = array_append(done, %s) WHERE id = ANY(%s)",
                    [name, [e.id for e in entries]],
                )
        batches += 1


def outbox_lag() -> tuple[int, datetime | None]:
    """(pending entries, creation time of the oldest) for the current tenant."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(created_at) FROM ingest_outbox")
        return cursor.fetchone()


def outbox_lag_all(schema_names: list[str]) -> dict:
    """Pending entries and the age of the oldest, summed over tenants (no tenant named)."""
    if not schema_names:
        return {"pending": 0, "oldest_seconds": 0.0}
    from psycopg import sql

    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT count(*), min(created_at) FROM {}").format(sql.Identifier(s, "ingest_outbox"))
        for s in schema_names
    )
    connection.ensure_connection()
    rows = connection.connection.execute(query).fetchall()
    pending = sum(r[0] for r in rows)
    oldest = min((r[1] for r in rows if r[1] is not None), default=None)
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return {"pending": pending, "oldest_seconds": round(max(age, 0.0), 3)}
