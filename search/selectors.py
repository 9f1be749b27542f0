"""Reads of events for the API (and later export, stats, stream), through the active backend.

Postgres is the source of truth and the default. The Elasticsearch mirror serves reads when
ELASTICSEARCH_URL is set and the cluster is healthy; if it fails to answer, Postgres does.
"""

import uuid
from dataclasses import dataclass

from ingest.models import Event
from ingest.services import ACCESS_TRAIL_SOURCE

from .backends import postgres
from .cursor import cursor_encode
from .filters import EventFilter
from .mirror import backend as mirror
from .mirror.cluster import mirror_healthy


@dataclass
class EventPage:
    events: list[Event]
    next_cursor: str | None


def _page(f: EventFilter, *, after, limit: int) -> list[Event]:
    if mirror_healthy():
        try:
            return mirror.page(f, after=after, limit=limit)
        except mirror.MirrorUnavailable:
            pass
    return postgres.page(f, after=after, limit=limit)


def events_page(f: EventFilter, *, after=None, limit: int) -> EventPage:
    rows = _page(f, after=after, limit=limit)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursor_encode(rows[-1].occurred_at, rows[-1].id) if more else None
    return EventPage(events=rows, next_cursor=next_cursor)


def event_get(event_id: str, *, access_trail: bool = True) -> Event | None:
    """One event by id; None also for an event of the access trail when the reader may not see the trail
    (as if it did not exist, like another tenant's)."""
    try:
        parsed = uuid.UUID(event_id)
    except ValueError:
        return None
    event = None
    if mirror_healthy():
        try:
            event = mirror.get(parsed)
        except mirror.MirrorUnavailable:
            event = None
    if event is None:
        event = postgres.get(parsed)
    if event is not None and not access_trail and event.source == ACCESS_TRAIL_SOURCE:
        return None
    return event
