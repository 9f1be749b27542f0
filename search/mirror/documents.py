"""Events to mirror documents (the bulk payload) and mirror documents back to events.

The document id is the event id, and every write is a whole-document `index` operation,
so relaying an event again replaces its document with the same content: idempotent.
"""

import uuid
from datetime import datetime

from ingest.models import Event

from .metadata import metadata_terms, metadata_text

_FIELDS = Event._meta.concrete_fields


def _json_value(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def document_source(event: Event) -> dict:
    """Every event field (JSON values), plus the fields derived from metadata."""
    source = {f.attname: _json_value(getattr(event, f.attname)) for f in _FIELDS}
    source["metadata_terms"] = metadata_terms(event.metadata or {})
    source["metadata_text"] = metadata_text(event.metadata or {})
    return source


def build_documents(events: list[Event]) -> list[dict]:
    """The bulk payload for these events: an `index` action (with _id = event id) then the source, per event."""
    payload: list[dict] = []
    for event in events:
        payload.append({"index": {"_id": str(event.id)}})
        payload.append(document_source(event))
    return payload


def event_from_source(source: dict) -> Event:
    """An unsaved Event rebuilt from a document's _source (what event_json renders)."""
    values = {f.attname: source[f.attname] for f in _FIELDS if f.attname in source}
    values["id"] = uuid.UUID(values["id"])
    for name in ("occurred_at", "received_at"):
        values[name] = datetime.fromisoformat(values[name])
    return Event(**values)
