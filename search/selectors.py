"""Reads of events for the API (and later export, stats, stream), through the active backend.

Postgres is the source of truth and the default. The Elasticsearch mirror serves reads when
ELASTICSEARCH_URL is set and the cluster is healthy; if it fails to answer, Postgres does.
"""

import uuid
from dataclasses import dataclass

from ingest.models import Event

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


def event_get(event_id: str) -> Event | None:
    try:
        parsed = uuid.UUID(event_id)
    except ValueError:
        return None
    if mirror_healthy():
        try:
            event = mirror.get(parsed)
        except mirror.MirrorUnavailable:
            event = None
        if event is not None:
            return event
    return postgres.get(parsed)
