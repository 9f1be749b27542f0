"""OpenAPI pieces shared by every app: the error body and its responses."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code, e.g. validation_error.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    details = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field path -> messages, for validation errors.",
    )
    invalid_indexes = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Bulk only: the indexes of the invalid events."
    )


class ErrorBody(serializers.Serializer):
    error = ErrorDetail()


_DESCRIPTIONS = {
    400: "Invalid input (field-level details)",
    401: "Missing, malformed, expired or revoked credential",
    403: "The credential may not do this, or names another tenant",
    404: "No such object in this tenant",
    409: "Conflicts with an existing object",
    413: "Body too large",
    415: "Not JSON",
}


def error_responses(*codes: int) -> dict:
    return {code: OpenApiResponse(ErrorBody, _DESCRIPTIONS[code]) for code in codes}


class AutoSchema(openapi.AutoSchema):
    """Documents what a view's throttles may answer (e.g. 429 with Retry-After) and the headers they add to
    its successful responses, from the throttle classes themselves: no view declares them, and a view added
    later is documented as it is limited. Throttles that do not apply to anonymous callers are left out of
    operations that need no credential."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if not operation:
            return operation
        error_ref = self.resolve_serializer(ErrorBody, "response").ref
        responses = operation.setdefault("responses", {})
        for throttle in self.view.throttle_classes:
            if "security" not in operation and not getattr(throttle, "openapi_anonymous", True):
                continue
            for code, (description, headers) in getattr(throttle, "openapi_responses", {}).items():
                responses.setdefault(
                    str(code),
                    {
                        "description": description,
                        "headers": _headers(headers),
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
            success = getattr(throttle, "openapi_success_headers", {})
            for code, response in responses.items():
                if code.startswith("2") and success:
                    response.setdefault("headers", {}).update(_headers(success))
        return operation


def _headers(docs: dict) -> dict:
    return {name: {"schema": {"type": "integer"}, "description": text} for name, text in docs.items()}


def strict_request_bodies(result, generator, request, public):
    """Every request body of this API refuses fields it does not know (400 "Unknown field."), so every request
    object says `additionalProperties: false`; clients and generated tests then know what is accepted. Free-form
    values (event metadata, changes, limits) are inline maps, not components, and keep accepting any key."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object" and "properties" in component:
            component.setdefault("additionalProperties", False)
    return result
