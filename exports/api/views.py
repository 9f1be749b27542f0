"""GET /api/v1/logs/export (streamed), /api/v1/exports (jobs), /api/v1/exports/{id}[/download]."""

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import connection
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from auditlog.disconnect import client_gone
from auditlog.errors import PERMISSION_DENIED, ApiError, FieldErrors
from auditlog.openapi import error_responses
from ingest.api.schemas import EventSchema
from search.api.views import FILTER_PARAMETERS
from search.audience import audience_of
from search.filters import parse_filters
from search.trail import filters_of, trail_event, trail_note
from tenants.models import Tenant
from tenants.ratelimit import ApiRateThrottle, decision_enforce, limits_hit, link_limits

from .. import services
from ..formats import CONTENT_TYPES, DEFAULT_FORMAT, FORMATS
from ..models import ExportJob, ExportStatus
from ..streaming import PrimedStream, export_chunks
from . import serializers as s

JOBS_LISTED = 100


class FormatParamNegotiation(DefaultContentNegotiation):
    """`format` is the export's own parameter here, not DRF's renderer override: always the first renderer
    (JSON, for errors)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _format(value: str | None) -> str:
    fmt = value or DEFAULT_FORMAT
    if fmt not in FORMATS:
        raise FieldErrors({"format": [f"One of {', '.join(FORMATS)}."]})
    return fmt


EXPORT_DESCRIPTION = (
    "Every event matching the filters of GET /api/v1/logs, newest first, streamed with no row cap. "
    "`format=ndjson` (default: one event per line, as the list shows it), `json` (one array) or `csv` (the "
    "fixed, flattened columns described in the README; cells that a spreadsheet would read as a formula "
    "start with `'`). A failure after the first byte aborts the connection (incomplete chunked response); "
    'an NDJSON export then ends with an `{"error": ...}` line.'
)


class LogExportView(APIView):
    content_negotiation_class = FormatParamNegotiation

    @extend_schema(
        operation_id="logs_export",
        description=EXPORT_DESCRIPTION,
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("format", str, enum=list(FORMATS), description="ndjson (default), json or csv"),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, "One event (JSON) per line"),
            (200, "application/json"): OpenApiResponse(EventSchema(many=True), "One JSON array of events"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, "A header row, then one row per event"),
            **error_responses(400, 401, 403),
        },
        tags=["logs"],
    )
    def get(self, request):
        f, extra = parse_filters(request.query_params, allowed_extra={"format"})
        fmt = _format(extra.get("format"))
        audience = audience_of(request.auth)
        f.access_trail = audience.access_trail
        tenant = request.auth.tenant
        stream = PrimedStream(export_chunks(tenant, f, audience, fmt), fmt, client_gone(request))
        response = StreamingHttpResponse(stream, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{services.export_filename(tenant, fmt)}"'
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # proxies (nginx) pass chunks on as they come
        return response


def _job_json(request, job: ExportJob) -> dict:
    url = expires = None
    if job.status == ExportStatus.DONE and job.file_name:
        token, expires = services.download_token(job, connection.schema_name)
        path = reverse("export-download", kwargs={"pk": str(job.id)})
        url = request.build_absolute_uri(path) + "?" + urlencode({"token": token})
    return {
        "id": job.id,
        "status": job.status,
        "format": job.format,
        "filters": job.filters,
        "rows": job.rows,
        "total": job.total,
        "progress": job.progress,
        "size": job.size,
        "error": job.error,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
        "download_url": url,
        "download_expires_at": expires,
    }


def _job_get(pk: str) -> ExportJob:
    try:
        job_id = uuid.UUID(pk)
    except ValueError:
        raise exceptions.NotFound("No such export job.") from None
    job = ExportJob.objects.filter(id=job_id).first()
    if job is None:
        raise exceptions.NotFound("No such export job.")
    return job


_CLIENT = BaseThrottle()


class ExportListView(APIView):
    @extend_schema(
        operation_id="exports_list",
        description=f"The tenant's export jobs, newest first (the last {JOBS_LISTED}).",
        responses={200: s.ExportJobListOut, **error_responses(401, 403)},
        tags=["exports"],
    )
    def get(self, request):
        jobs = ExportJob.objects.order_by("-created_at")[:JOBS_LISTED]
        return Response({"results": [_job_json(request, job) for job in jobs]})

    @extend_schema(
        operation_id="exports_create",
        description=(
            "Queue an export of every event matching the filters into a gzip-compressed file; poll "
            "GET /api/v1/exports/{id} for its progress and, once done, its download link."
        ),
        request=s.ExportJobIn,
        responses={202: s.ExportJobOut, **error_responses(400, 401, 403, 409)},
        tags=["exports"],
    )
    def post(self, request):
        serializer = s.ExportJobIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        principal = request.auth
        audience = audience_of(principal)
        job = services.export_job_create(
            principal=principal, audience=audience, fmt=data.get("format"), filters=data.get("filters")
        )
        body = trail_event(
            "log-export",
            principal,
            filters=filters_of(services.job_filter(job)),
            ip=_CLIENT.get_ident(request),
            user_agent=request.META.get("HTTP_USER_AGENT"),
            request_id=request.META.get("HTTP_X_REQUEST_ID"),
            job=str(job.id),
            format=job.format,
        )
        body["metadata"]["route"] = "export-list"
        trail_note(principal.tenant, body)
        return Response(_job_json(request, job), status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    @extend_schema(
        operation_id="exports_retrieve",
        responses={200: s.ExportJobOut, **error_responses(401, 403, 404)},
        tags=["exports"],
    )
    def get(self, request, pk):
        return Response(_job_json(request, _job_get(pk)))


@dataclass(frozen=True)
class _Link:
    """A verified download link: whose it is (the tenant) and for which job."""

    tenant: Tenant
    job_id: str


def _link_of(request, pk: str) -> _Link:
    """The verified link of a download request; a missing, forged, altered, other job's or expired token, or a
    tenant that no longer exists, is refused here (400, 403, 404), before it counts against any limit."""
    token = request.query_params.get("token")
    if not token:
        raise FieldErrors({"token": ["The signed token of the job's download_url is required."]})
    try:
        claims = services.download_claims(token, pk)
    except services.LinkExpired:
        raise ApiError(
            code=PERMISSION_DENIED, status_code=403, message="This download link has expired; ask for a new one."
        ) from None
    except services.LinkInvalid:
        raise ApiError(code=PERMISSION_DENIED, status_code=403, message="This download link is not valid.") from None
    tenant = Tenant.objects.filter(schema_name=claims.schema).first()
    if tenant is None:
        raise exceptions.NotFound("No such export job.")
    return _Link(tenant=tenant, job_id=claims.job_id)


class DownloadLinkThrottle(BaseThrottle):
    """A download counts against its tenant's read limit, and against its job's links' own at the per-credential
    rate: the signed link is its only credential. Sets X-RateLimit-* like the API's limits; 429 when refused."""

    openapi_responses = ApiRateThrottle.openapi_responses
    openapi_success_headers = ApiRateThrottle.openapi_success_headers
    openapi_anonymous = True

    def allow_request(self, request, view):
        decision_enforce(limits_hit(link_limits(view.link.tenant, f"export:{view.link.job_id}")), view)
        return True


@dataclass(frozen=True)
class _JobCreator:
    """The creator of a job as the access trail names an actor (Principal.actor, as stored with the job)."""

    actor: dict


class ExportDownloadView(APIView):
    """The file of a done job, for whoever holds its signed link (no credential: a browser can follow it).

    Each download counts against the tenant's read limit and is recorded in its access trail (action EXPORT,
    route export-download), with the job's creator as actor: the link is theirs, whoever follows it."""

    authentication_classes: list = []
    throttle_classes = [DownloadLinkThrottle]
    link: _Link

    def check_throttles(self, request):
        self.link = _link_of(request, self.kwargs["pk"])  # first: a refused link counts against nothing
        super().check_throttles(request)

    @extend_schema(
        operation_id="exports_download",
        description=(
            "The gzip-compressed export file. The signed `token` of the job's `download_url` is the only "
            "credential; it names the tenant and the job, and expires. Each download counts against the "
            "tenant's read limit and is recorded in its access trail, with the job's creator as actor."
        ),
        parameters=[OpenApiParameter("token", str, required=True, description="From the job's download_url")],
        responses={
            (200, "application/gzip"): OpenApiResponse(OpenApiTypes.BINARY, "The export, gzip-compressed"),
            **error_responses(400, 403, 404),
        },
        tags=["exports"],
        auth=[],
    )
    def get(self, request, pk):
        tenant = self.link.tenant
        connection.set_tenant(tenant)
        job = _job_get(pk)
        if job.status != ExportStatus.DONE or not job.file_name or job.expires_at <= timezone.now():
            raise exceptions.NotFound("The file of this export job does not exist (not done yet, or expired).")
        storage = services.export_storage()
        if not storage.exists(job.file_name):
            raise exceptions.NotFound("The file of this export job does not exist any more.")
        response = FileResponse(
            storage.open(job.file_name, "rb"),
            as_attachment=True,
            filename=services.export_filename(tenant, job.format, job.created_at, compressed=True),
            content_type="application/gzip",
        )
        response.block_size = 256 * 1024
        response["Cache-Control"] = "no-store"
        _download_note(request, tenant, job)
        return response


def _download_note(request, tenant, job: ExportJob) -> None:
    body = trail_event(
        "log-export",
        _JobCreator(job.created_by),
        filters=filters_of(services.job_filter(job)),
        ip=_CLIENT.get_ident(request),
        user_agent=request.META.get("HTTP_USER_AGENT"),
        request_id=request.META.get("HTTP_X_REQUEST_ID"),
        job=str(job.id),
        format=job.format,
    )
    body["message"] = "Downloaded an export file"
    body["metadata"]["route"] = "export-download"
    trail_note(tenant, body)
