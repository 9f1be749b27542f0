"""The export formats: the export's lines (exports.lines) -> bytes, in chunks; and the Python renderer of an
event's line, for the events PostgreSQL does not write (and the reference the lines are tested against).

- `ndjson`: one JSON object per line (`application/x-ndjson`), the event exactly as the list shows it;
- `json`: one JSON array of those objects (`application/json`), opened before the first event and closed
  after the last, so an export cut short is never valid JSON;
- `csv`: a header row, then one row per event with the fixed columns of CSV_COLUMNS (RFC 4180, UTF-8,
  CRLF line ends). Nested objects are flattened into dotted columns (`actor.id`, `context.ip`, ...); the
  free-form fields (JSON_COLUMNS) are written as JSON text; a missing or null value is an empty cell.
  Text cells beginning with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading `'` so that
  spreadsheets never read them as formulas (CSV injection).

Writers take a batch of lines at a time and hand back one chunk for it, so a stream costs one batch of memory
whatever its length.
"""

import csv
import io
import json
from datetime import datetime
from uuid import UUID

import orjson
from django.core.serializers.json import DjangoJSONEncoder

from search.audience import Audience, content_view

from .lines import FORMULA_PREFIXES, SLOW

FORMATS = ("ndjson", "csv", "json")
DEFAULT_FORMAT = "ndjson"
CONTENT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8", "json": "application/json"}

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
    """An export's bytes: head(), then chunk(lines) for each batch of lines (exports.lines, newest first), then
    tail(). A line PostgreSQL could not write (SLOW, then the event's JSON as stored) is written here from the
    event as the audience sees it (search.audience.content_view: decrypted or masked)."""

    line_end = b""

    def __init__(self, tenant, audience: Audience):
        self._tenant = tenant
        self._audience = audience

    def head(self) -> bytes:
        return b""

    def tail(self) -> bytes:
        return b""

    def encode(self, event: dict) -> bytes:
        """One event (API shape, as its audience sees it) as its line, without the line end."""
        raise NotImplementedError

    def _finished(self, line: bytes) -> bytes:
        if line[:1] != SLOW:
            return line
        return self.encode(content_view(orjson.loads(line[1:]), self._tenant, self._audience))

    def _joined(self, lines: list[bytes], separator: bytes) -> bytes:
        body = separator.join(lines)
        if SLOW in body:  # a JSON line never holds the byte otherwise (escaped); a CSV line may, never first
            body = separator.join([self._finished(line) for line in lines])
        return body

    def chunk(self, lines: list[bytes]) -> bytes:
        return self._joined(lines, self.line_end) + self.line_end if lines else b""


class NdjsonWriter(Writer):
    line_end = b"\n"

    def encode(self, event: dict) -> bytes:
        return json_bytes(event)


class JsonWriter(Writer):
    def __init__(self, tenant, audience: Audience):
        super().__init__(tenant, audience)
        self._first = True

    def head(self) -> bytes:
        return b"["

    def tail(self) -> bytes:
        return b"]"

    def encode(self, event: dict) -> bytes:
        return json_bytes(event)

    def chunk(self, lines: list[bytes]) -> bytes:
        if not lines:
            return b""
        body = self._joined(lines, b",")
        if self._first:
            self._first = False
            return body
        return b"," + body


class CsvWriter(Writer):
    line_end = b"\r\n"

    def __init__(self, tenant, audience: Audience):
        super().__init__(tenant, audience)
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
        return self._row(csv_cells(event))[:-2]


WRITERS = {"ndjson": NdjsonWriter, "json": JsonWriter, "csv": CsvWriter}


def writer_for(fmt: str, tenant, audience: Audience) -> Writer:
    return WRITERS[fmt](tenant, audience)
