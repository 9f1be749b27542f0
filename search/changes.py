"""An event's `changes` as rows of a before/after table (the dashboard's event detail).

Nested objects are walked to their leaves, so a row is one dotted path (`address.city`), as in
`changed_fields`. A side the reader may not see decrypted reads `[ENCRYPTED]` (search.audience) as a whole:
then the rows are the event's `changed_fields`, whose names are stored in clear, with both values hidden.
"""

from dataclasses import dataclass

import orjson

from ingest.crypto import ENCRYPTED_MARK, UNREADABLE_MARK

ADDED, REMOVED, CHANGED, UNCHANGED, HIDDEN = "added", "removed", "changed", "unchanged", "hidden"
MASK_PREFIX = "[MASKED:"
_MISSING = object()


@dataclass(frozen=True)
class ChangeRow:
    path: str
    kind: str  # added, removed, changed, unchanged; hidden when the values are encrypted for this reader
    before: str | None  # display text; None where the side has no such field
    after: str | None
    masked: bool  # a value was masked at ingest (it reads [MASKED:<kind>])


def _text(value) -> str | None:
    if value is _MISSING:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _is_masked(value, path: str, side: str, masked_fields: set[str]) -> bool:
    return f"changes.{side}.{path}" in masked_fields or (isinstance(value, str) and value.startswith(MASK_PREFIX))


def _walk(before, after, prefix: str, masked_fields: set[str], rows: list[ChangeRow]) -> None:
    for key in sorted(set(before) | set(after), key=str):
        path = f"{prefix}{key}"
        b, a = before.get(key, _MISSING), after.get(key, _MISSING)
        if isinstance(b, dict) and isinstance(a, dict) and (b or a):
            _walk(b, a, path + ".", masked_fields, rows)
            continue
        if b is _MISSING:
            kind = ADDED
        elif a is _MISSING:
            kind = REMOVED
        elif b != a or type(b) is not type(a):
            kind = CHANGED
        else:
            kind = UNCHANGED
        masked = _is_masked(b, path, "before", masked_fields) or _is_masked(a, path, "after", masked_fields)
        rows.append(ChangeRow(path, kind, _text(b), _text(a), masked))


def change_rows(event: dict) -> list[ChangeRow]:
    """The rows of an event in the API shape (as the reader may see it); [] when it records no change."""
    changes = event.get("changes") or {}
    before, after = changes.get("before"), changes.get("after")
    if before is None and after is None:
        return []
    marks = [side for side in (after, before) if isinstance(side, str) and side in (ENCRYPTED_MARK, UNREADABLE_MARK)]
    if marks:
        mark = marks[0]
        return [ChangeRow(path, HIDDEN, mark, mark, False) for path in event.get("changed_fields") or []]
    rows: list[ChangeRow] = []
    _walk(
        before if isinstance(before, dict) else {},
        after if isinstance(after, dict) else {},
        "",
        set(event.get("masked_fields") or []),
        rows,
    )
    return rows
