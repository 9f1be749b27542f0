"""Export lines written by PostgreSQL: each event's line of an export (its JSON as the API shows it, or its CSV
row) built by the export query itself, so that the export passes bytes on instead of rendering every event in
Python (which costs several times what reading the row does).

The line of an event is byte for byte what the Python renderer writes (search.audience.event_view, then
exports.formats): keys in the API's order, no whitespace, nulls as the API has them, absent keys of the
compacted `actor`/`resource`/`context` left out, timestamps as orjson writes them (`2026-11-02T08:00:00+00:00`,
microseconds only when not zero), addresses as PostgreSQL writes an inet (`/bits` only for a network), and
text escaped as JSON (or quoted as CSV) exactly when it needs it. CSV cells get the formula guard of
exports.formats.csv_cells.

An event whose line PostgreSQL cannot write identically comes as SLOW followed by its JSON in the API shape as
stored (valid JSON, not compact), for the Python renderer to finish (exports.formats). That is an event whose
`changes` or `metadata`:
- hold an encrypted value (`"$enc"`): decrypted or masked for the audience in Python (ingest.crypto);
- hold a null in an object (json_strip_nulls, which writes jsonb compactly, would drop it);
- hold a number whose text may differ from what the Python renderer writes of it (it reads jsonb numbers as
  floats or 64-bit integers): one with a fraction ending in 0 beyond its first place (`1.50`), one below 1e-4
  (`0.00001`, which it writes `1e-5`), or one of 18 significant digits or more (beyond a float, or near 64
  bits). Numbers as the service stores them (orjson's shortest form of a float) are otherwise written the
  same.
These tests read the text of the jsonb value and may also pick a string that looks like such a number or
`null` (`"1.50,"`): such an event only takes the slower path.
"""

SLOW = b"\x01"

# Text columns of the event, all checked at once for characters that need a JSON escape.
TEXT_COLUMNS = (
    "actor_id",
    "actor_type",
    "actor_name",
    "actor_email",
    "session_id",
    "action",
    "resource_type",
    "resource_id",
    "resource_name",
    "severity",
    "message",
    "user_agent",
    "request_id",
    "correlation_id",
    "source",
    "hash",
)
# The text cells of a CSV row, in their order (exports.formats.CSV_COLUMNS).
CSV_TEXT_COLUMNS = TEXT_COLUMNS[:11] + ("user_agent", "request_id", "correlation_id", "source", "hash")
JSON_ESCAPED = r"[\x01-\x1f\"\\]"  # what to_json escapes (text never holds \x00)
# A CSV cell starting with one of these gets a leading ' (spreadsheets would read it as a formula).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_QUOTED = (",", '"', "\n", "\r")  # what csv.writer quotes a cell for (delimiter, quote, line ends)
_NUMBER_UNSAFE = r"[ \[]-?([0-9]+\.[0-9]+0[,}\]]|0\.0000|[1-9](\.?[0-9]){17})"
_NULL_IN_JSONB = r"[ \[]null[,}\]]"

# Columns that are never null (the event table's NOT NULL constraints).
NOT_NULL = frozenset(
    {"id", "occurred_at", "received_at", "actor_id", "actor_type", "action", "resource_type", "severity"}
    | {"changed_fields", "metadata", "tags", "masked_fields"}
)


def _jsonb_writable(text: str) -> str:
    return f"(strpos({text}, '\"$enc\"') = 0 AND {text} !~ '{_NUMBER_UNSAFE}|{_NULL_IN_JSONB}')"


# Per row, computed once: the jsonb columns as text; whether both can be written compactly (writable); whether
# no text column needs a JSON escape (plain).
_texts = " || ".join(f"coalesce(e.{name}, '')" for name in TEXT_COLUMNS)
LATERAL = (
    "CROSS JOIN LATERAL (SELECT t.mt, t.ct, "
    f"{_jsonb_writable('t.mt')} AND (t.ct IS NULL OR {_jsonb_writable('t.ct')}) AS writable, "
    f"({_texts}) !~ '{JSON_ESCAPED}' AS plain "
    "FROM (SELECT e.metadata::text AS mt, e.changes::text AS ct OFFSET 0) t OFFSET 0) j"
)


class Text(str):
    """A piece of a line that is text as it is (the rest are SQL expressions)."""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql(pieces: list[str]) -> str:
    """The pieces concatenated (||), neighbouring texts first joined into one literal (fewer concatenations)."""
    merged: list[str] = []
    for piece in pieces:
        if isinstance(piece, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1] + piece)
        else:
            merged.append(piece)
    return " || ".join(_literal(piece) if isinstance(piece, Text) else f"({piece})" for piece in merged)


def _case(column: str, when_null: str, pieces: list[str]) -> list[str]:
    """pieces, or when_null where the column is null."""
    if column.removeprefix("e.") in NOT_NULL:
        return pieces
    return [f"CASE WHEN {column} IS NULL THEN {_literal(when_null)} ELSE {_sql(pieces)} END"]


def _json_string(column: str, plain: bool) -> list[str]:
    """A text column as a JSON string: in quotes as it is in a plain row, else escaped by to_json."""
    return [Text('"'), column, Text('"')] if plain else [f"to_json({column})::text"]


_ISO = _literal('YYYY-MM-DD"T"HH24:MI:SS.US')


def _timestamp(column: str) -> str:
    return f"replace(to_char({column} AT TIME ZONE 'UTC', {_ISO}), '.000000', '')"


_IP = "abbrev(e.ip)"  # an inet as its output function writes it (`::text` always adds the /32)


def _member(key: str, column: str, plain: bool, *, first: bool = False) -> list[str]:
    """`,"key":value` of a compacted object: nothing when the column is null."""
    value = [Text('"'), _IP, Text('"')] if column == "e.ip" else _json_string(column, plain)
    return _case(column, "", [Text(("" if first else ",") + f'"{key}":'), *value])


def _compact_object(members: list[tuple[str, str]], plain: bool) -> list[str]:
    """An object of the members that are not null (ingest.representation._compact)."""
    if members[0][1].removeprefix("e.") in NOT_NULL:
        first, *rest = members
        inner = _member(*first, plain, first=True) + [p for key, col in rest for p in _member(key, col, plain)]
        return [Text("{"), *inner, Text("}")]
    inner = [p for key, col in members for p in _member(key, col, plain)]
    return [Text("{"), f"substr({_sql(inner)}, 2)", Text("}")]


def _json_array(column: str) -> str:
    return f"CASE WHEN cardinality({column}) = 0 THEN '[]' ELSE array_to_json({column})::text END"


def _jsonb(text: str, *, null: str) -> str:
    """A jsonb column (as text) written compactly when the row is writable, else as stored."""
    return (
        f"CASE WHEN {text} IS NULL THEN {_literal(null)} WHEN {text} = '{{}}' THEN '{{}}' "
        f"WHEN j.writable THEN json_strip_nulls({text}::json)::text ELSE {text} END"
    )


ACTOR = [
    ("id", "e.actor_id"),
    ("type", "e.actor_type"),
    ("name", "e.actor_name"),
    ("email", "e.actor_email"),
    ("session_id", "e.session_id"),
]
RESOURCE = [("type", "e.resource_type"), ("id", "e.resource_id"), ("name", "e.resource_name")]
CONTEXT = [
    ("ip", "e.ip"),
    ("user_agent", "e.user_agent"),
    ("request_id", "e.request_id"),
    ("correlation_id", "e.correlation_id"),
]


def _event_json_pieces(plain: bool) -> list[str]:
    """The event in the API shape (ingest.representation.event_json)."""

    def text(column: str) -> list[str]:
        return _case(column, "null", _json_string(column, plain))

    sealed = [Text(',"sequence":'), "e.sequence::text", Text(',"hash":'), *text("e.hash")]
    return [
        Text('{"id":"'),
        "e.id::text",
        Text('","occurred_at":"'),
        _timestamp("e.occurred_at"),
        Text('+00:00","received_at":"'),
        _timestamp("e.received_at"),
        Text('+00:00","actor":'),
        *_compact_object(ACTOR, plain),
        Text(',"action":'),
        *text("e.action"),
        Text(',"resource":'),
        *_compact_object(RESOURCE, plain),
        Text(',"severity":'),
        *text("e.severity"),
        Text(',"message":'),
        *text("e.message"),
        Text(',"context":'),
        *_compact_object(CONTEXT, plain),
        Text(',"changes":'),
        _jsonb("j.ct", null="null"),
        Text(',"changed_fields":'),
        _json_array("e.changed_fields"),
        Text(',"masked_fields":'),
        _json_array("e.masked_fields"),
        Text(',"metadata":'),
        _jsonb("j.mt", null="null"),
        Text(',"source":'),
        *text("e.source"),
        Text(',"tags":'),
        _json_array("e.tags"),
        *_case("e.sequence", "", sealed),
        Text("}"),
    ]


_SLOW_MARK = "CASE WHEN j.writable THEN '' ELSE E'\\x01' END"


def _event_json() -> str:
    """The event's JSON line, prefixed by SLOW when not writable."""
    plain, escaped = _sql(_event_json_pieces(plain=True)), _sql(_event_json_pieces(plain=False))
    return f"{_SLOW_MARK} || CASE WHEN j.plain THEN {plain} ELSE {escaped} END"


_FORMULA_CODES = ", ".join(str(ord(prefix)) for prefix in FORMULA_PREFIXES)


def _csv_quoted(text: str) -> str:
    return f"'\"' || replace({text}, '\"', '\"\"') || '\"'"


def _csv_text(column: str) -> str:
    """A text cell: empty for null; else the formula guard, then quotes where csv.writer adds them (ascii() and
    strpos() cost a fraction of a regular expression here)."""
    guarded = f"CASE WHEN ascii({column}) IN ({_FORMULA_CODES}) THEN {_literal(chr(39))} || {column} ELSE {column} END"
    needs_quotes = " OR ".join(f"strpos({column}, {_literal(char)}) > 0" for char in CSV_QUOTED)
    cell = f"CASE WHEN {needs_quotes} THEN {_csv_quoted(guarded)} ELSE {guarded} END"
    return _case(column, "", [cell])[0]


def _csv_json(text: str) -> str:
    """A cell of JSON text (never guarded: it starts with [, { or a scalar's JSON), quoted when needed."""
    needs_quotes = f"strpos({text}, '\"') > 0 OR strpos({text}, ',') > 0"
    return f"CASE WHEN {needs_quotes} THEN {_csv_quoted(text)} ELSE {text} END"


def _event_csv() -> str:
    """The event's CSV row (exports.formats.CSV_COLUMNS) without its line end; its JSON line (SLOW first) when
    not writable."""
    texts = [_csv_text(f"e.{name}") for name in CSV_TEXT_COLUMNS]
    cells = [
        "e.id::text",
        _timestamp("e.occurred_at") + " || '+00:00'",
        _timestamp("e.received_at") + " || '+00:00'",
        *texts[:11],  # actor.id ... message
        f"coalesce({_IP}, '')",
        *texts[11:15],  # context.user_agent ... source
        _csv_json(_json_array("e.tags")),
        f"CASE WHEN j.ct IS NULL THEN '' ELSE {_csv_json(_jsonb('j.ct', null=''))} END",
        _csv_json(_json_array("e.changed_fields")),
        _csv_json(_json_array("e.masked_fields")),
        _csv_json(_jsonb("j.mt", null="")),
        "coalesce(e.sequence::text, '')",
        texts[15],  # hash
    ]
    row = _sql([piece for cell in cells for piece in (cell, Text(","))][:-1])
    # Not writable: the event's JSON, always escaped (the row's plain flag is then never computed).
    return f"CASE WHEN j.writable THEN {row} ELSE E'\\x01' || {_sql(_event_json_pieces(plain=False))} END"


LINES = {"ndjson": _event_json(), "json": _event_json(), "csv": _event_csv()}


def lines_sql(events_sql: str, fmt: str, *, position: bool = False) -> str:
    """The query of the export's lines over events_sql, a query of the event columns in export order (newest
    first), which it keeps: one text column, the line, and with `position` the event's occurred_at and id as
    text (where a keyset page ends)."""
    columns = LINES[fmt] + (", e.occurred_at::text, e.id::text" if position else "")
    return f"SELECT {columns} FROM ({events_sql}) e {LATERAL} ORDER BY e.occurred_at DESC, e.id DESC"
