"""The outbox relay: drains a tenant's outbox in batches and hands each batch to the registered handlers.

The relay knows no consumer by name. Apps register handlers in their AppConfig.ready()
(the search mirror, later rollups and alerts). A handler gets the batch's Event objects
inside the tenant's schema and a transaction of its own; it must be idempotent, because a
batch whose transaction did not commit (a crash, a handler error) is handed over again.

Each entry records the handlers still to run (`pending`) and those done with it (`done`), and goes
once none is pending: a handler that fails (the mirror down) holds back neither the others nor later
events for them; its own backlog waits in the outbox, visible as relay lag, until a retry gets through.

`pending` is NULL until a first handler has run (an entry is written without knowing the handlers: every
handler registered then, less those in `done`, is pending); from then on it names the handlers left. A
handler's pick reads only what it still has to do, whatever the others' backlogs: the entries no handler
has touched (a partial index) and those naming it (a GIN index on `pending`). So a handler registered after
an entry was first relayed does not get that entry; a handler retired from the code must be removed from the
entries' `pending` (a data migration), else its entries stay.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from .models import Event

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
    names = list(_HANDLERS)
    if not names:  # nothing to hand the entries to: all are done with
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ingest_outbox")
            return cursor.rowcount
    failure: Exception | None = None
    relayed = 0
    for name, handler in list(_HANDLERS.items()):
        try:
            relayed += _drain_for(name, handler, names, batch_size=batch_size, max_batches=max_batches)
        except Exception as exc:  # noqa: BLE001 - raised below, after the other handlers ran
            logger.warning("relay handler %s failed in %s: %r", name, connection.schema_name, exc)
            failure = failure or exc
    if relayed:
        logger.info("relayed %d events in %s", relayed, connection.schema_name)
    if failure is not None:
        raise failure
    return relayed


# The next entries a handler still has to do, oldest first, locked for its batch: those no handler has run on
# yet (and that this one is not done with: entries relayed before `pending` existed) and those naming it.
# Each arm has its index (ingest_outbox_untouched, ingest_outbox_pending): finished entries are never read.
PICK_SQL = (
    "SELECT id, event_id, occurred_at FROM ingest_outbox "
    "WHERE (pending IS NULL AND NOT done @> ARRAY[%(name)s]::text[]) OR pending @> ARRAY[%(name)s]::text[] "
    "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
)
# The handler is done with them; those with no registered handler left pending go.
_DONE_SQL = (
    "UPDATE ingest_outbox SET done = array_append(done, %(name)s), pending = array_remove("
    "coalesce(pending, ARRAY(SELECT h FROM unnest(%(names)s::text[]) h WHERE NOT h = ANY(done))), %(name)s) "
    "WHERE id = ANY(%(ids)s)"
)
_FINISHED_SQL = "DELETE FROM ingest_outbox WHERE id = ANY(%(ids)s) AND NOT pending && %(names)s::text[]"


def _drain_for(name: str, handler: Handler, names: list[str], *, batch_size: int, max_batches: int | None) -> int:
    """Run one handler over what it has left, batch by batch; returns the entries that went (no handler left)."""
    batches = finished = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(PICK_SQL, {"name": name, "limit": batch_size})
            entries = cursor.fetchall()
            if not entries:
                break
            handler(
                list(
                    Event.objects.filter(
                        id__in=[event_id for _id, event_id, _at in entries],
                        occurred_at__in={at for _id, _event_id, at in entries},  # lets the planner prune partitions
                    )
                )
            )
            params = {"name": name, "names": names, "ids": [entry_id for entry_id, _event_id, _at in entries]}
            cursor.execute(_DONE_SQL, params)
            cursor.execute(_FINISHED_SQL, params)
            finished += cursor.rowcount
        batches += 1
    return finished


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
