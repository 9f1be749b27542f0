"""Web-facing protections Django has no setting for: request header and query-string limits (HTTP and
WebSocket handshakes), and a Content-Security-Policy on every response.

The limits are checked right after the security headers are set up, before tenant resolution, sessions and
authentication, so an oversized request costs no database round trip. The server in front usually has limits
of its own; these make the answer the same everywhere: the API's error shape with 431 or 414, never a bare
proxy page.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings

from .errors import BAD_REQUEST, HEADERS_TOO_LARGE, URI_TOO_LONG, json_error

# Request headers as WSGI presents them: HTTP_* plus the two that lose their prefix.
_UNPREFIXED = ("CONTENT_TYPE", "CONTENT_LENGTH")


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


def _meta_headers(meta) -> Iterator[tuple[str, str]]:
    for key, value in meta.items():
        if isinstance(value, str) and (key.startswith("HTTP_") or key in _UNPREFIXED):
            yield (key[5:] if key.startswith("HTTP_") else key), value


def request_refusal(headers: Iterable[tuple], query: str, path: str) -> Refusal | None:
    """Why a request breaks the limits, or None: a header over REQUEST_HEADER_MAX_BYTES or all of them over
    REQUEST_HEADERS_MAX_BYTES (431); a query string over QUERY_STRING_MAX_BYTES (414); a NUL in the path or query
    string (400: PostgreSQL refuses NUL in text, and no filter or id can contain one). Headers count as sent,
    "Name: value"."""
    header_max, headers_max = settings.REQUEST_HEADER_MAX_BYTES, settings.REQUEST_HEADERS_MAX_BYTES
    total = 0
    for name, value in headers:
        size = len(name) + len(value) + 2
        if size > header_max:
            return Refusal(431, HEADERS_TOO_LARGE, f"A request header exceeds {header_max} bytes.")
        total += size
    if total > headers_max:
        return Refusal(431, HEADERS_TOO_LARGE, f"The request headers exceed {headers_max} bytes.")
    if len(query) > settings.QUERY_STRING_MAX_BYTES:
        return Refusal(414, URI_TOO_LONG, f"The query string exceeds {settings.QUERY_STRING_MAX_BYTES} bytes.")
    if "%00" in query or "\x00" in path:
        return Refusal(400, BAD_REQUEST, "The request URL contains a NUL character.")
    return None


class RequestLimitsMiddleware:
    """Answers a request that breaks the limits (request_refusal) with its status, in the API's error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = request_refusal(_meta_headers(request.META), request.META.get("QUERY_STRING", ""), request.path_info)
        if refusal is not None:
            return json_error(refusal.status, refusal.code, refusal.message)
        return self.get_response(request)


class WebSocketLimitsMiddleware:
    """The same limits for WebSocket handshakes (ASGI): a handshake that breaks them is accepted and closed at
    once, before any data, with 4000 + the HTTP status (4431, 4414, 4400) and the message as reason, as the live
    tail refuses other requests. Without it a NUL in a live-tail filter would reach PostgreSQL in a replay."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            headers = ((name.decode("latin-1"), value.decode("latin-1")) for name, value in scope.get("headers", []))
            refusal = request_refusal(headers, scope.get("query_string", b"").decode("latin-1"), scope.get("path", ""))
            if refusal is not None:
                await receive()  # websocket.connect
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": 4000 + refusal.status, "reason": refusal.message})
                return None
        return await self.app(scope, receive, send)


class ContentSecurityPolicyMiddleware:
    """Sets CONTENT_SECURITY_POLICY on every response that has none. The API answers JSON, which a browser never
    runs; the policy matters for the pages (Swagger UI, the dashboard, Django admin), which load scripts only from
    this origin and never inline (Swagger UI's start-up script is served as a file of its own for that reason)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
