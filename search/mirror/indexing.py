"""Writing events to the mirror: bulk `index` requests, and the outbox relay's handler.

The handler runs inside the tenant's schema and the relay's transaction. It raises when any
document was not indexed, so the relay keeps the batch and hands it over again; writes are
whole documents under the event id, so doing a batch twice is harmless.
"""

import logging

from django.db import connection

from ingest.models import Event

from .cluster import es_client, mirror_enabled
from .documents import build_documents
from .indices import index_ensure, index_forget, indices_drop

RELAY_HANDLER_NAME = "search-mirror"


logger = logging.getLogger(__name__)


class MirrorWriteFailed(Exception):
    """Elasticsearch refused one or more documents of a bulk request."""


def bulk_index(target: str, payload: list[dict], *, through_alias: bool = True) -> None:
    """Send a build_documents payload to `target`; raise MirrorWriteFailed if any item failed.

    Through an alias, `require_alias` makes a missing alias an error instead of letting
    Elasticsearch create a concrete index of that name with guessed mappings.
    """
    response = es_client().bulk(
        index=target,
        operations=payload,
        require_alias=through_alias,
        filter_path="errors,items.*._id,items.*.error",
    )
    if not response["errors"]:
        return
    failed = [result for item in response["items"] for result in item.values() if result.get("error")]
    first = failed[0]
    reason = first["error"].get("reason") if isinstance(first["error"], dict) else first["error"]
    raise MirrorWriteFailed(
        f"{len(failed)} of {len(payload) // 2} documents were not indexed into {target}; "
        f"first: {first.get('_id')}: {reason}"
    )


def mirror_relay_handler(events: list[Event]) -> None:
    """Outbox handler: upsert the batch's events into the current tenant's index (nothing when the mirror is off)."""
    if not events or not mirror_enabled():
        return
    schema_name = connection.schema_name
    try:
        bulk_index(index_ensure(schema_name), build_documents(events))
    except Exception:
        index_forget(schema_name)
        raise


def mirror_tenant_drop(schema_name: str) -> None:
    """A deleted tenant's documents leave the mirror with it (tenants.services.tenant_delete calls this)."""
    if mirror_enabled():
        dropped = indices_drop(schema_name)
        logger.info("deleted tenant %s: mirror indices %s dropped", schema_name, dropped)
