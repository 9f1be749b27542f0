"""Events as the live tail sends them: each with its cursor and the text of its `event` message.

Live batches are decoded once per process (every connection of a tenant gets the same bytes), and
rendered once per process and audience (encrypted content decrypted or masked: search.audience);
stored events are read for replays through the Postgres backend, oldest first.
"""

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import orjson
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

from .audience import Audience, content_view, event_view
from .backends import postgres
from .cursor import cursor_encode
from .filters import EventFilter
from .matching import event_matches


@dataclass(frozen=True, slots=True)
class TailEvent:
    id: str
    key: tuple[datetime, uuid.UUID]  # (occurred_at, id): the keyset position
    received_at: datetime
    event: dict  # the API shape
    cursor: str
    text: str  # {"type": "event", "event": ..., "cursor": ...}

    @property
    def item(self) -> str:
        """The text of this event inside a batch: {"event": ..., "cursor": ...} (the message without its type)."""
        return "{" + self.text[_EVENT_PREFIX:]


_EVENT_PREFIX = len('{"type":"event",')


def batch_text(events) -> str:
    """One `events` message for several events: {"type": "events", "events": [{"event", "cursor"}, ...]}."""
    return '{"type":"events","events":[' + ",".join(e.item for e in events) + "]}"


def _ints_as_floats(value):
    if isinstance(value, dict):
        return {k: _ints_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints_as_floats(v) for v in value]
    return float(value) if isinstance(value, int) and not -(2**63) <= value < 2**64 else value


def json_text(value) -> str:
    """orjson's JSON text; an int beyond 64 bits is written as the float it was when stored.

    Ingest reads such numbers as floats (orjson), but jsonb gives integral ones back as ints.
    """
    try:
        return orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(_ints_as_floats(value), default=str).decode()


def _tail_event(event: dict, occurred_at: datetime, event_id: uuid.UUID, received_at: datetime) -> TailEvent:
    cursor = cursor_encode(occurred_at, event_id)
    text = json_text({"type": "event", "event": event, "cursor": cursor})
    return TailEvent(str(event_id), (occurred_at, event_id), received_at, event, cursor, text)


@lru_cache(maxsize=8)
def decode_batch(raw: bytes) -> tuple[TailEvent, ...]:
    """A batch published by ingest.live (a JSON array of events in the API shape), as stored: filters match
    this form, as they do the stored rows (encrypted content is not searchable)."""
    return tuple(
        _tail_event(
            event,
            datetime.fromisoformat(event["occurred_at"]),
            uuid.UUID(event["id"]),
            datetime.fromisoformat(event["received_at"]),
        )
        for event in orjson.loads(raw)
    )


@dataclass(slots=True)
class Selection:
    """The events of one published batch that a filter selects, in keyset order; shared by the connections
    of the process whose filters are the same, with the text of its `events` message made once."""

    events: tuple[TailEvent, ...]
    _text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = batch_text(self.events)
        return self._text


_SELECTIONS: OrderedDict[tuple[bytes, str, Audience], Selection] = OrderedDict()
SELECTIONS_KEPT = 512


def filter_key(f: EventFilter) -> str:
    """Equal for filters that select the same events (as query parameters, sorted)."""
    return orjson.dumps(f.as_params(), option=orjson.OPT_SORT_KEYS).decode()


_RENDERED: OrderedDict[tuple[bytes, Audience], tuple[TailEvent, ...]] = OrderedDict()
RENDERED_KEPT = 16


def render_batch(raw: bytes, tenant, audience: Audience, *, load: bool = False) -> tuple[TailEvent, ...]:
    """A published batch's events as the audience sees them, in batch order: rendered once per process and
    audience; an event without encrypted content keeps its decoded text. Without `load` (on the event loop),
    raises tenants.keys.KeyNotLoaded, caching nothing, when a data key is not in this process's cache: then
    call it with `load` in a database thread, and the rendering is there for the event loop."""
    rendered = _RENDERED.get((raw, audience))
    if rendered is None:
        shown = []
        for stored in decode_batch(raw):
            event = content_view(stored.event, tenant, audience, load=load)
            shown.append(stored if event is stored.event else _tail_event(event, *stored.key, stored.received_at))
        rendered = _RENDERED[(raw, audience)] = tuple(shown)
        if len(_RENDERED) > RENDERED_KEPT:
            _RENDERED.popitem(last=False)
    return rendered


def select(raw: bytes, f: EventFilter, key: str, tenant, audience: Audience) -> Selection:
    """What f (whose filter_key is key) selects of a published batch, as the audience sees it: matched and
    rendered once per process, filter and audience. Raises tenants.keys.KeyNotLoaded like render_batch.

    Connections run on one event loop, so the cache needs no lock; the batch's bytes hash once.
    """
    selection = _SELECTIONS.get((raw, key, audience))
    if selection is None:
        shown = render_batch(raw, tenant, audience)
        events = [e for stored, e in zip(decode_batch(raw), shown, strict=True) if event_matches(f, stored.event)]
        selection = Selection(tuple(sorted(events, key=lambda e: e.key)))  # a bulk's events share their time
        _SELECTIONS[(raw, key, audience)] = selection
        if len(_SELECTIONS) > SELECTIONS_KEPT:
            _SELECTIONS.popitem(last=False)
    return selection


def position_before(key: tuple[datetime, uuid.UUID]) -> tuple[datetime, uuid.UUID]:
    """The keyset position right before this one: after it comes this event."""
    occurred_at, event_id = key
    if event_id.int:
        return occurred_at, uuid.UUID(int=event_id.int - 1)
    return occurred_at - timedelta(microseconds=1), uuid.UUID(int=(1 << 128) - 1)


def replay_page(
    f: EventFilter, audience: Audience, *, after: tuple[datetime, uuid.UUID], limit: int
) -> list[TailEvent]:
    """Stored events matching f strictly after the position, oldest first, as the audience sees them (call in
    the tenant's schema)."""
    qs = postgres.filtered(f).filter(RawSQL("(occurred_at, id) > (%s, %s)", list(after), output_field=BooleanField()))
    return [
        _tail_event(event_view(e, audience), e.occurred_at, e.id, e.received_at)
        for e in qs.order_by("occurred_at", "id")[:limit]
    ]
