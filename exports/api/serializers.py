"""Shapes of the export job endpoints."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from auditlog.serializers import StrictSerializer

from ..formats import FORMATS
from ..models import ExportStatus

FILTERS_HELP = (
    "The filters of GET /api/v1/logs as an object of its query parameters (without limit and cursor), "
    'each a string or a list of strings, e.g. {"severity": "ERROR,CRITICAL", "from": "2026-01-01T00:00:00Z"}.'
)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "description": FILTERS_HELP,
    }
)
class FiltersField(serializers.JSONField):
    pass


class ExportJobIn(StrictSerializer):
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="Default ndjson.")
    filters = FiltersField(required=False)


class ActorOut(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    name = serializers.CharField(required=False)
    email = serializers.CharField(required=False)


class ExportJobOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ExportStatus.choices)
    format = serializers.ChoiceField(choices=FORMATS)
    filters = serializers.DictField(child=serializers.CharField(), help_text="The filters, as query parameters.")
    rows = serializers.IntegerField(help_text="Events written so far (all of them once done).")
    total = serializers.IntegerField(allow_null=True, help_text="Matching events counted when the job started.")
    progress = serializers.FloatField(help_text="0 to 1.")
    size = serializers.IntegerField(allow_null=True, help_text="Bytes of the gzip-compressed file, once done.")
    error = serializers.CharField(allow_blank=True)
    created_by = ActorOut()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(help_text="When the job and its file expire.")
    download_url = serializers.URLField(
        allow_null=True, help_text="Once done: a signed link to the gzip-compressed file; needs no credential."
    )
    download_expires_at = serializers.DateTimeField(allow_null=True, help_text="When download_url stops working.")


class ExportJobListOut(serializers.Serializer):
    results = ExportJobOut(many=True)
