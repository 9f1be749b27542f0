"""Reads of events for the API (and later export, stats, stream), through the active backend."""

import uuid
from dataclasses import dataclass

from ingest.models import Event

from .backends import postgres
from .cursor import cursor_encode
from .filters import EventFilter


@dataclass
class EventPage:
    events: list[Event]
    next_cursor: str | None


def events_page(f: EventFilter, *, after=None, limit: int) -> EventPage:
    rows = postgres.page(f, after=after, limit=limit)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursor_encode(rows[-1].occurred_at, rows[-1].id) if more else None
    return EventPage(events=rows, next_cursor=next_cursor)


def event_get(event_id: str) -> Event | None:
    try:
        parsed = uuid.UUID(event_id)
    except ValueError:
        return None
    return postgres.get(parsed)
