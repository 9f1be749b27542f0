"""The outbox relay: drains a tenant's outbox in batches and hands each batch to the registered handlers.

The relay knows no consumer by name. Apps register handlers in their AppConfig.ready()
(the search mirror, later rollups and alerts). A handler gets the batch's Event objects
inside the tenant's schema and the relay's transaction; it must be idempotent, because a
batch whose transaction did not commit (a crash, a handler error) is handed over again.
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
    """Drain the current tenant's outbox; returns how many entries were relayed.

    Concurrent relays of one tenant split the work (SKIP LOCKED); a batch is deleted
    in the same transaction that ran its handlers, so it is relayed at least once.
    """
    relayed = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            entries = list(OutboxEntry.objects.select_for_update(skip_locked=True).order_by("id")[:batch_size])
            if not entries:
                break
            events = list(
                Event.objects.filter(
                    id__in=[e.event_id for e in entries],
                    occurred_at__in={e.occurred_at for e in entries},  # lets the planner prune partitions
                )
            )
            for handler in _HANDLERS.values():
                handler(events)
            OutboxEntry.objects.filter(id__in=[e.id for e in entries]).delete()
        relayed += len(entries)
        batches += 1
    if relayed:
        logger.info("relayed %d events in %s", relayed, connection.schema_name)
    return relayed


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
