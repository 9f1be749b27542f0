"""Opaque keyset cursors over (occurred_at, id), newest first."""

import base64
import uuid
from datetime import datetime

import orjson

from auditlog.errors import FieldErrors


def cursor_encode(occurred_at: datetime, event_id: uuid.UUID) -> str:
    raw = orjson.dumps([occurred_at.isoformat(), str(event_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(value: str) -> tuple[datetime, uuid.UUID]:
    try:
        if len(value) > 200:
            raise ValueError
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        stamp, event_id = orjson.loads(raw)
        occurred_at = datetime.fromisoformat(stamp)
        if occurred_at.tzinfo is None:
            raise ValueError
        return occurred_at, uuid.UUID(event_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise FieldErrors({"cursor": ["Invalid cursor: use the 'next' link of a previous page."]}) from None
