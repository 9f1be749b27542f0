"""The export formats: events (API shape, as event_view renders them) -> bytes, in chunks.

- `ndjson`: one JSON object per line (`application/x-ndjson`), the event exactly as the list shows it;
- `json`: one JSON array of those objects (`application/json`), opened before the first event and closed
  after the last, so an export cut short is never valid JSON;
- `csv`: a header row, then one row per event with the fixed columns of CSV_COLUMNS (RFC 4180, UTF-8,
  CRLF line ends). Nested objects are flattened into dotted columns (`actor.id`, `context.ip`, ...); the
  free-form fields (JSON_COLUMNS) are written as JSON text; a missing or null value is an empty cell.
  Text cells beginning with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading `'` so that
  spreadsheets never read them as formulas (CSV injection).

Writers take events one at a time and hand back bytes in chunks of about CHUNK_BYTES, so a stream costs
one chunk of memory whatever its length.
"""

import csv
import io
import json
from datetime import datetime
from uuid import UUID

import orjson
from django.core.serializers.json import DjangoJSONEncoder

FORMATS = ("ndjson", "csv", "json")
DEFAULT_FORMAT = "ndjson"
CONTENT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8", "json": "application/json"}
CHUNK_BYTES = 64 * 1024

# (column, path in the API shape of the event); the order is the file's.
CSV_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (name, tuple(name.split(".")))
    for name in (
        "id",
        "occurred_at",
        "received_at",
        "actor.id",
        "actor.type",
        "actor.name",
        "actor.email",
        "actor.session_id",
        "action",
        "resource.type",
        "resource.id",
        "resource.name",
        "severity",
        "message",
        "context.ip",
        "context.user_agent",
        "context.request_id",
        "context.correlation_id",
        "source",
        "tags",
        "changes",
        "changed_fields",
        "masked_fields",
        "metadata",
        "sequence",
        "hash",
    )
)
JSON_COLUMNS = frozenset({"tags", "changes", "changed_fields", "masked_fields", "metadata"})
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def json_bytes(value) -> bytes:
    """JSON as the API renders it (auditlog.renderers.FastJSONRenderer)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the slow path writes it, as the API does
        return json.dumps(value, cls=DjangoJSONEncoder).encode()


def _text(value) -> str:
    """A scalar as the JSON of the API shows it, as text (timestamps ISO 8601 as orjson writes them, UUIDs
    plain)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is datetime or kind is UUID or kind is int:
        return value.isoformat() if kind is datetime else str(value)
    return json_bytes(value).decode().strip('"')


def formula_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_cells(event: dict) -> list[str]:
    """One event's CSV row (CSV_COLUMNS, flattened, formula-safe)."""
    cells = []
    append = cells.append
    for name, path in CSV_COLUMNS:
        if len(path) == 1:
            value = event.get(name)
        else:
            parent = event.get(path[0])
            value = parent.get(path[1]) if type(parent) is dict else None
        if value is None:
            append("")
        elif name in JSON_COLUMNS:
            append(json_bytes(value).decode())  # starts with [ or { (or is a JSON scalar): never a formula
        else:
            text = _text(value)
            append("'" + text if text.startswith(FORMULA_PREFIXES) else text)
    return cells


class Writer:
    """Events in, byte chunks out: `add(event)` returns a chunk when one is full, `close()` the rest."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._size = 0

    def head(self) -> bytes:
        return b""

    def tail(self) -> bytes:
        return b""

    def encode(self, event: dict) -> bytes:
        raise NotImplementedError

    def add(self, event: dict) -> bytes | None:
        data = self.encode(event)
        self._parts.append(data)
        self._size += len(data)
        if self._size >= CHUNK_BYTES:
            return self.flush()
        return None

    def flush(self) -> bytes:
        chunk = b"".join(self._parts)
        self._parts, self._size = [], 0
        return chunk

    def close(self) -> bytes:
        return self.flush() + self.tail()


class NdjsonWriter(Writer):
    def encode(self, event: dict) -> bytes:
        return json_bytes(event) + b"\n"


class JsonWriter(Writer):
    def __init__(self):
        super().__init__()
        self._first = True

    def head(self) -> bytes:
        return b"["

    def tail(self) -> bytes:
        return b"]"

    def encode(self, event: dict) -> bytes:
        if self._first:
            self._first = False
            return json_bytes(event)
        return b"," + json_bytes(event)


class CsvWriter(Writer):
    def __init__(self):
        super().__init__()
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def _row(self, cells: list[str]) -> bytes:
        self._csv.writerow(cells)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()

    def head(self) -> bytes:
        return self._row([name for name, _path in CSV_COLUMNS])

    def encode(self, event: dict) -> bytes:
        return self._row(csv_cells(event))


WRITERS = {"ndjson": NdjsonWriter, "json": JsonWriter, "csv": CsvWriter}


def writer_for(fmt: str) -> Writer:
    return WRITERS[fmt]()
