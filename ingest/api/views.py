"""POST /api/v1/logs (one event) and POST /api/v1/logs/bulk."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from auditlog.conf import auditlog_setting
from auditlog.errors import FieldErrors
from auditlog.openapi import error_responses

from .. import services
from ..crypto import content_mask
from ..representation import event_json
from .schemas import BulkInSchema, BulkOutSchema, EventInSchema, EventSchema

ERRORS = error_responses(400, 401, 403, 413, 415)


class EventCreateMixin:
    """The POST half of /api/v1/logs (the GET half is the search list)."""

    max_body_bytes = auditlog_setting("MAX_EVENT_BYTES")

    @extend_schema(
        operation_id="logs_create",
        request=EventInSchema,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        responses={201: EventSchema, 200: OpenApiResponse(EventSchema, "Repeat: the original event"), **ERRORS},
        tags=["logs"],
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= 255 and key.isprintable()):
            raise FieldErrors({"Idempotency-Key": ["1 to 255 printable characters."]})
        event, created = services.event_create(
            tenant_slug=request.auth.tenant.slug, body=request.data, idempotency_key=key
        )
        # Encrypted content is shown masked: the writer knows what it sent, and an ingest key may not read.
        body = content_mask(event_json(event))
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class LogBulkView(APIView):
    @extend_schema(
        operation_id="logs_bulk_create", request=BulkInSchema, responses={201: BulkOutSchema, **ERRORS}, tags=["logs"]
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict) or set(data) != {"events"}:
            raise FieldErrors({"events": ['Expected {"events": [...]} and no other field.']})
        result = services.events_bulk_create(tenant_slug=request.auth.tenant.slug, events=data["events"])
        return Response(result, status=status.HTTP_201_CREATED)
