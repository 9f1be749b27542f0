"""OpenAPI pieces shared by every app: the error body and its responses."""

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
