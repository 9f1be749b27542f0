"""Reads of events for the API (and later export, stats, stream), through the active backend.

Postgres is the source of truth and the default. The Elasticsearch mirror serves reads when
ELASTICSEARCH_URL is set and the cluster is healthy; if it fails to answer, Postgres does.
"""

import uuid
from dataclasses import dataclass

from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

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


# Links of related events: the event's field -> the column other events share it in.
RELATED_LINKS = ("correlation_id", "request_id", "session_id")


def events_related(event: Event, *, access_trail: bool = True, after=None, limit: int) -> EventPage:
    """Events sharing `event`'s correlation_id, request_id or session_id, oldest first, itself left out.

    One ordered scan per link on its (link, occurred_at, id) index, from the cursor position, limit + 1 rows
    each; merged by (occurred_at, id) without repeats (an event sharing two links appears once)."""
    found: dict = {}
    for column in RELATED_LINKS:
        value = getattr(event, column)
        if not value:
            continue
        qs = Event.objects.filter(**{column: value}).exclude(id=event.id)
        if not access_trail:
            qs = qs.exclude(source=ACCESS_TRAIL_SOURCE)
        if after is not None:
            qs = qs.filter(RawSQL("(occurred_at, id) > (%s, %s)", list(after), output_field=BooleanField()))
        for row in qs.order_by("occurred_at", "id")[: limit + 1]:
            found[row.id] = row
    rows = sorted(found.values(), key=lambda e: (e.occurred_at, e.id))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursor_encode(rows[-1].occurred_at, rows[-1].id) if more else None
    return EventPage(events=rows, next_cursor=next_cursor)
