"""GET /api/v1/logs (list, filters, cursor pages) and GET /api/v1/logs/{id}."""

from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from auditlog.errors import FieldErrors
from auditlog.openapi import error_responses
from ingest.api.schemas import EventPageSchema, EventSchema
from ingest.api.views import EventCreateMixin

from ..audience import audience_of, event_view
from ..cursor import cursor_decode
from ..filters import LIST_PARAMS, parse_filters, parse_limit
from ..selectors import event_get, events_page, events_related

FILTER_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO 8601 with offset; occurred_at >= from"),
    OpenApiParameter("to", str, description="ISO 8601 with offset; occurred_at < to"),
    *[OpenApiParameter(name, str, description="Exact match; comma list for any of") for name in LIST_PARAMS],
    OpenApiParameter("ip", str, description="IP address or CIDR network; comma list for any of"),
    OpenApiParameter("tag", str, description="Events carrying any of these tags (comma list)"),
    OpenApiParameter("q", str, description="Full-text search over message and metadata values (web search syntax)"),
    OpenApiParameter(
        "metadata.<key>", str, description="metadata.<key>[.<key>...]=<value>: exact match on a metadata value"
    ),
]


class LogListView(EventCreateMixin, APIView):
    @extend_schema(
        operation_id="logs_list",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("limit", int, description="Page size, 1 to 1000 (default 50)"),
            OpenApiParameter("cursor", str, description="Opaque position from a previous page's `next`"),
        ],
        responses={200: EventPageSchema, **error_responses(400, 401, 403)},
        tags=["logs"],
    )
    def get(self, request):
        f, extra = parse_filters(request.query_params, allowed_extra={"limit", "cursor"})
        audience = audience_of(request.auth)
        f.access_trail = audience.access_trail
        limit = parse_limit(extra.get("limit"))
        after = cursor_decode(extra["cursor"]) if "cursor" in extra else None
        page = events_page(f, after=after, limit=limit)
        next_url = None
        if page.next_cursor:
            params = {**f.as_params(), "limit": limit, "cursor": page.next_cursor}
            next_url = request.build_absolute_uri(request.path) + "?" + urlencode(params)
        return Response({"results": [event_view(e, audience) for e in page.events], "next": next_url})


class LogDetailView(APIView):
    @extend_schema(
        operation_id="logs_retrieve", responses={200: EventSchema, **error_responses(401, 403, 404)}, tags=["logs"]
    )
    def get(self, request, event_id):
        audience = audience_of(request.auth)
        event = event_get(event_id, access_trail=audience.access_trail)
        if event is None:
            raise exceptions.NotFound("No such event.")
        return Response(event_view(event, audience))


class LogRelatedView(APIView):
    @extend_schema(
        operation_id="logs_related",
        description="The events sharing this event's `context.correlation_id`, `context.request_id` or "
        "`actor.session_id`, oldest first, the event itself left out; cursor pages.",
        parameters=[
            OpenApiParameter("limit", int, description="Page size, 1 to 1000 (default 50)"),
            OpenApiParameter("cursor", str, description="Opaque position from a previous page's `next`"),
        ],
        responses={200: EventPageSchema, **error_responses(400, 401, 403, 404)},
        tags=["logs"],
    )
    def get(self, request, event_id):
        audience = audience_of(request.auth)
        params = request.query_params
        unknown = sorted(set(params) - {"limit", "cursor"})
        if unknown:
            raise FieldErrors({name: ["Unknown parameter."] for name in unknown})
        limit = parse_limit(params.get("limit"))
        after = cursor_decode(params["cursor"]) if "cursor" in params else None
        event = event_get(event_id, access_trail=audience.access_trail)
        if event is None:
            raise exceptions.NotFound("No such event.")
        page = events_related(event, access_trail=audience.access_trail, after=after, limit=limit)
        next_url = None
        if page.next_cursor:
            query = urlencode({"limit": limit, "cursor": page.next_cursor})
            next_url = request.build_absolute_uri(request.path) + "?" + query
        return Response({"results": [event_view(e, audience) for e in page.events], "next": next_url})
