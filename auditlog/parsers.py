"""Request parsing: strict JSON (orjson), a body cap per view, clear errors for anything else."""

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from .errors import PAYLOAD_TOO_LARGE, ApiError


def body_limit(view) -> int:
    """A view may lower the global cap with a `max_body_bytes` attribute."""
    return getattr(view, "max_body_bytes", None) or settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = body_limit((parser_context or {}).get("view"))
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ApiError(code=PAYLOAD_TOO_LARGE, status_code=413, message=f"The body exceeds {limit} bytes.")
        if not raw:
            raise ParseError("The request body is empty; a JSON document is expected.")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
