"""Rebuilding a tenant's mirror from Postgres into a new concrete index, then swapping the alias.

The relay keeps writing to the old index (through the alias) while the new one fills. Events
it wrote there that the copy missed were stored after the copy began, so a catch-up pass over
events received since then (less a margin for transactions in flight) copies them too, after
the swap, when every new relay write already lands in the new index.
"""

from datetime import timedelta

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ingest.models import Event

from .cluster import es_client
from .documents import build_documents
from .indexing import bulk_index
from .indices import alias_move, index_create, index_current, index_ensure, index_name

BATCH_SIZE = 1000
CATCH_UP_MARGIN = timedelta(minutes=5)


def _copy(events: QuerySet, target: str, batch_size: int) -> int:
    """Every event of the queryset into `target`, in keyset batches over (occurred_at, id)."""
    copied, position = 0, None
    while True:
        batch = events.order_by("occurred_at", "id")
        if position is not None:
            batch = batch.filter(RawSQL("(occurred_at, id) > (%s, %s)", position, output_field=BooleanField()))
        rows = list(batch[:batch_size])
        if not rows:
            return copied
        bulk_index(target, build_documents(rows), through_alias=False)
        copied += len(rows)
        position = [rows[-1].occurred_at, rows[-1].id]


def index_rebuild(*, batch_size: int = BATCH_SIZE) -> tuple[str, int]:
    """Rebuild the current tenant's index from its events; returns (the new index, events copied)."""
    schema_name = connection.schema_name
    client = es_client()
    index_ensure(schema_name)
    previous, version = index_current(schema_name)
    target = index_name(schema_name, version + 1)
    # Left over by an interrupted rebuild (it never got the alias): start it again.
    client.indices.delete(index=target, ignore_unavailable=True)
    index_create(client, target)

    started = timezone.now()
    copied = _copy(Event.objects.all(), target, batch_size)
    client.indices.refresh(index=target)
    alias_move(schema_name, to=target, previous=previous)
    _copy(Event.objects.filter(received_at__gte=started - CATCH_UP_MARGIN), target, batch_size)
    client.indices.refresh(index=target)
    return target, copied
