"""event_matches(f, event): the in-memory twin of the Postgres backend's filtered(f), for the live tail.

Each EventFilter field means here what it means in search.backends.postgres; the event is in the
API shape (ingest.representation), with JSON types (times as ISO strings) or Python ones.
search/tests/test_stream_matching.py runs both on the same random events and filters.
"""

import ipaddress
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from ingest.services import ACCESS_TRAIL_SOURCE

from .filters import EventFilter, metadata_values
from .fulltext import text_matches

# Filter column -> where the API shape keeps it: (top-level key, nested key or None).
COLUMN_FIELDS = {
    "actor_id": ("actor", "id"),
    "actor_type": ("actor", "type"),
    "session_id": ("actor", "session_id"),
    "action": ("action", None),
    "resource_type": ("resource", "type"),
    "resource_id": ("resource", "id"),
    "severity": ("severity", None),
    "source": ("source", None),
    "correlation_id": ("context", "correlation_id"),
    "request_id": ("context", "request_id"),
}


def _time(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _column(event: dict, column: str):
    outer, inner = COLUMN_FIELDS[column]
    value = event.get(outer)
    return value if inner is None else (value or {}).get(inner)


@lru_cache(maxsize=1024)
def _network(text: str):
    """A filter's address (`ip = x`) or network (`ip <<= x`), as parse_filters normalised it."""
    return ipaddress.ip_network(text) if "/" in text else ipaddress.ip_address(text)


def _ip_matches(ips: list[str], value: str | None) -> bool:
    if value is None:
        return False
    address = ipaddress.ip_address(value)
    # Addresses of different families are never equal, nor contained (as for Postgres' inet).
    return any(address in _network(ip) if "/" in ip else address == _network(ip) for ip in ips)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(stored, wanted) -> bool:
    """jsonb equality of scalars: same type; numbers by decimal value (3 = 3.0)."""
    if isinstance(wanted, bool | str):
        return type(stored) is type(wanted) and stored == wanted
    return _is_number(stored) and Decimal(repr(stored)) == Decimal(repr(wanted))


def _metadata_matches(metadata, path: list[str], value: str) -> bool:
    """metadata @> {path: v} for a scalar v: a nested object at each key, then an equal scalar (never an array)."""
    node = metadata
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    if isinstance(node, dict | list) or node is None:
        return False
    return any(_json_equal(node, wanted) for wanted in metadata_values(value))


def event_matches(f: EventFilter, event: dict) -> bool:
    if not f.access_trail and event.get("source") == ACCESS_TRAIL_SOURCE:
        return False
    if f.time_from or f.time_to:
        occurred_at = _time(event["occurred_at"])
        if (f.time_from and occurred_at < f.time_from) or (f.time_to and occurred_at >= f.time_to):
            return False
    for column, values in f.columns.items():
        if _column(event, column) not in values:
            return False
    if f.ips and not _ip_matches(f.ips, (event.get("context") or {}).get("ip")):
        return False
    if f.tags and not any(tag in f.tags for tag in event.get("tags") or ()):
        return False
    for path, value in f.metadata:
        if not _metadata_matches(event.get("metadata"), path, value):
            return False
    return not f.q or text_matches(f.q, event.get("message"), event.get("metadata"))
