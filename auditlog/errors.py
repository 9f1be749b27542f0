"""One JSON error shape for the whole API: {"error": {"code", "message", "details"}}.

Error codes are declared here once; clients may rely on them.
"""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

# Stable, machine-readable codes.
VALIDATION_ERROR = "validation_error"
MALFORMED_JSON = "malformed_json"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
PAYLOAD_TOO_LARGE = "payload_too_large"
NOT_AUTHENTICATED = "not_authenticated"
AUTHENTICATION_FAILED = "authentication_failed"
PERMISSION_DENIED = "permission_denied"
TENANT_MISMATCH = "tenant_mismatch"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
NOT_ACCEPTABLE = "not_acceptable"
CONFLICT = "conflict"
THROTTLED = "throttled"
RATE_LIMITED = "rate_limited"  # a rate limit of the tenant, the credential or sign-in (429)
SERVICE_UNAVAILABLE = "service_unavailable"
HEADERS_TOO_LARGE = "request_header_fields_too_large"  # a request header, or all of them, too large (431)
URI_TOO_LONG = "uri_too_long"  # the query string too long (414)
BAD_REQUEST = "bad_request"
SERVER_ERROR = "server_error"


def error_body(code: str, message: str, details=None) -> dict:
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


class ApiError(exceptions.APIException):
    """An error with an explicit code, message and optional field details."""

    def __init__(self, *, code: str, message: str, status_code: int = 400, details=None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details


class FieldErrors(ApiError):
    """Validation failed; details maps a field path to a list of messages."""

    def __init__(self, details: dict, message: str = "The request is invalid.", **extra):
        super().__init__(code=VALIDATION_ERROR, message=message, status_code=400, details=details)
        self.extra = extra


class TenantMismatch(ApiError):
    def __init__(self, message: str = "The credential belongs to another tenant."):
        super().__init__(code=TENANT_MISMATCH, message=message, status_code=403)


def _flatten(detail, prefix=""):
    """DRF's nested error detail -> {"field.path": ["message", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and not prefix:
                path = "non_field_errors"
            out.update(_flatten(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


_DRF_CODES = {
    exceptions.ParseError: MALFORMED_JSON,
    exceptions.NotAuthenticated: NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: AUTHENTICATION_FAILED,
    exceptions.PermissionDenied: PERMISSION_DENIED,
    exceptions.NotFound: NOT_FOUND,
    exceptions.MethodNotAllowed: METHOD_NOT_ALLOWED,
    exceptions.NotAcceptable: NOT_ACCEPTABLE,
    exceptions.UnsupportedMediaType: UNSUPPORTED_MEDIA_TYPE,
    exceptions.Throttled: THROTTLED,
}


def exception_handler(exc, context):
    """DRF exception handler producing the one error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(PAYLOAD_TOO_LARGE, "The request body is too large."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )

    if isinstance(exc, ApiError):
        body = error_body(exc.error_code, exc.message, exc.details)
        body["error"].update(getattr(exc, "extra", {}) or {})
        return _response(exc, body)
    if isinstance(exc, exceptions.ValidationError):
        return _response(exc, error_body(VALIDATION_ERROR, "The request is invalid.", _flatten(exc.detail)))
    if isinstance(exc, exceptions.APIException):
        code = _DRF_CODES.get(type(exc)) or next(
            (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), BAD_REQUEST
        )
        message = exc.detail if isinstance(exc.detail, str) else "The request could not be processed."
        return _response(exc, error_body(code, str(message)))
    return None


def _response(exc, body):
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))
    return Response(body, status=exc.status_code, headers=headers)


def json_error(status_code: int, code: str, message: str, details=None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


# Django-level handlers, for errors raised outside DRF views (unknown URLs, crashes).
def handler400(request, exception=None):
    return json_error(400, BAD_REQUEST, "Bad request.")


def handler403(request, exception=None):
    return json_error(403, PERMISSION_DENIED, "You do not have permission to perform this action.")


def handler404(request, exception=None):
    return json_error(404, NOT_FOUND, "Not found.")


def handler500(request):
    return json_error(500, SERVER_ERROR, "Internal server error.")
