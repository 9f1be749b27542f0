"""The Elasticsearch read backend: the same page/get contract as backends/postgres.py, over the tenant's alias.

Any failure raises MirrorUnavailable, and the caller serves from Postgres. A failure of the
cluster also marks it unhealthy (reads go to Postgres until the next probe); a missing index
(a tenant never mirrored) or a refused request does not.
"""

import logging
from contextlib import contextmanager

from django.db import connection
from elasticsearch import ApiError, NotFoundError, TransportError

from ingest.models import Event

from ..filters import EventFilter
from .cluster import es_search_client, mirror_mark_unhealthy
from .documents import event_from_source
from .indices import alias_name
from .mapping import DERIVED_FIELDS
from .query import search_body

logger = logging.getLogger(__name__)


class MirrorUnavailable(Exception):
    """The mirror could not answer this read; Postgres must."""


@contextmanager
def _cluster_errors():
    """Failures other than a missing document or index become MirrorUnavailable.

    Only a failing cluster (unreachable, timing out, 5xx, 429) is marked unhealthy: a
    request it refused (4xx) is this code's fault and says nothing about other reads.
    """
    try:
        yield
    except NotFoundError:
        raise
    except (ApiError, TransportError) as exc:
        logger.warning("search mirror read failed, serving from Postgres: %s", exc)
        if not isinstance(exc, ApiError) or exc.status_code >= 500 or exc.status_code == 429:
            mirror_mark_unhealthy()
        raise MirrorUnavailable(str(exc)) from exc


def page(f: EventFilter, *, after=None, limit: int) -> list[Event]:
    """Newest first, strictly after the (occurred_at, id) position when given; limit + 1 events to detect more."""
    try:
        with _cluster_errors():
            response = es_search_client().search(
                index=alias_name(connection.schema_name), body=search_body(f, after=after, limit=limit)
            )
    except NotFoundError as exc:
        raise MirrorUnavailable(f"no mirror index: {exc.message}") from exc
    if response["timed_out"] or response["_shards"]["failed"]:
        mirror_mark_unhealthy()
        raise MirrorUnavailable("partial results from the mirror")
    return [event_from_source(hit["_source"]) for hit in response["hits"]["hits"]]


def get(event_id) -> Event | None:
    """The event, or None when the mirror does not have it (then ask Postgres: it may not be relayed yet)."""
    try:
        with _cluster_errors():
            response = es_search_client().get(
                index=alias_name(connection.schema_name), id=str(event_id), source_excludes=list(DERIVED_FIELDS)
            )
    except NotFoundError:
        return None
    return event_from_source(response["_source"])
