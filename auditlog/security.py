"""Web-facing protections Django has no setting for: request header and query-string limits, and a
Content-Security-Policy on every response.

The limits are checked right after the security headers are set up, before tenant resolution, sessions and
authentication, so an oversized request costs no database round trip. The server in front usually has limits
of its own; these make the answer the same everywhere: the API's error shape with 431 or 414, never a bare
proxy page.
"""

from django.conf import settings

from .errors import BAD_REQUEST, HEADERS_TOO_LARGE, URI_TOO_LONG, json_error

# Request headers as WSGI presents them: HTTP_* plus the two that lose their prefix.
_UNPREFIXED = ("CONTENT_TYPE", "CONTENT_LENGTH")


def request_headers_size(meta) -> tuple[int, int]:
    """(largest single header, all headers) in bytes, counting each name and value as sent."""
    largest = total = 0
    for key, value in meta.items():
        if not (key.startswith("HTTP_") or key in _UNPREFIXED) or not isinstance(value, str):
            continue
        size = len(key) - (5 if key.startswith("HTTP_") else 0) + len(value) + 2  # "Name: value"
        largest = max(largest, size)
        total += size
    return largest, total


class RequestLimitsMiddleware:
    """431 for a header over REQUEST_HEADER_MAX_BYTES or all of them over REQUEST_HEADERS_MAX_BYTES; 414 for a
    query string over QUERY_STRING_MAX_BYTES; 400 for a NUL in the path or query string (PostgreSQL refuses NUL in
    text, and no filter or id can contain one)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.header_max = settings.REQUEST_HEADER_MAX_BYTES
        self.headers_max = settings.REQUEST_HEADERS_MAX_BYTES
        self.query_max = settings.QUERY_STRING_MAX_BYTES

    def __call__(self, request):
        largest, total = request_headers_size(request.META)
        if largest > self.header_max:
            return json_error(431, HEADERS_TOO_LARGE, f"A request header exceeds {self.header_max} bytes.")
        if total > self.headers_max:
            return json_error(431, HEADERS_TOO_LARGE, f"The request headers exceed {self.headers_max} bytes.")
        query = request.META.get("QUERY_STRING", "")
        if len(query) > self.query_max:
            return json_error(414, URI_TOO_LONG, f"The query string exceeds {self.query_max} bytes.")
        if "%00" in query or "\x00" in request.path_info:
            return json_error(400, BAD_REQUEST, "The request URL contains a NUL character.")
        return self.get_response(request)


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
