"""Dashboard pages: /app/exports (start an export job, the tenant's jobs) and /app/exports/<id> (one job;
its row as an HTMX partial, polled while the job is queued or running). Auditor and Admin only.

A job is created by the same service as POST /api/v1/exports (exports.services.export_job_create: its
formats, filters, limits and audience) and recorded in the access trail as the API records it; a done job
offers the signed download link the API hands out (GET /api/v1/exports/{id}/download?token=...).

The streamed export (GET /api/v1/logs/export) takes an API credential (an export key or a token), which a
signed-in session does not have, so the page offers jobs only.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.db import connection
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.throttling import BaseThrottle

from auditlog.errors import ApiError, FieldErrors
from search.audience import audience_of
from search.trail import filters_of, trail_event, trail_note
from tenants.dashboard import dashboard_view
from tenants.models import Role

from . import services
from .forms import ExportJobForm
from .models import ExportJob, ExportStatus

JOBS_LISTED = 100  # as GET /api/v1/exports
POLL_SECONDS = 1

_CLIENT = BaseThrottle()


def job_row(job: ExportJob) -> dict:
    """What a job's row shows: the job, whether it is still moving, and once done its signed link."""
    link = link_expires = None
    if job.status == ExportStatus.DONE and job.file_name:
        token, link_expires = services.download_token(job, connection.schema_name)
        link = reverse("export-download", kwargs={"pk": str(job.id)}) + "?" + urlencode({"token": token})
    return {
        "job": job,
        "active": job.status in services.ACTIVE,
        "percent": round(job.progress * 100),
        "download_url": link,
        "download_expires_at": link_expires,
        "poll_seconds": POLL_SECONDS,
    }


def _form_errors(form: ExportJobForm, exc: FieldErrors) -> None:
    for name, messages_ in exc.details.items():
        field = name.removeprefix("filters.")
        for message in messages_:
            form.add_error(field if field in form.fields else None, message)


def _record(request, job: ExportJob) -> None:
    body = trail_event(
        "log-export",
        request.principal,
        filters=filters_of(services.job_filter(job)),
        ip=_CLIENT.get_ident(request),
        user_agent=request.META.get("HTTP_USER_AGENT"),
        request_id=request.META.get("HTTP_X_REQUEST_ID"),
        job=str(job.id),
        format=job.format,
    )
    body["metadata"]["route"] = "exports:exports"
    trail_note(request.principal.tenant, body)


def _start(request, form: ExportJobForm) -> ExportJob | None:
    principal = request.principal
    try:
        job = services.export_job_create(
            principal=principal,
            audience=audience_of(principal),
            fmt=form.cleaned_data["format"],
            filters=form.job_filters(timezone.now()),
        )
    except FieldErrors as exc:
        _form_errors(form, exc)
        return None
    except ApiError as exc:  # e.g. too many jobs queued or running (409)
        form.add_error(None, exc.message)
        return None
    _record(request, job)
    return job


@dashboard_view(role=Role.AUDITOR)
@require_http_methods(["GET", "HEAD", "POST"])
def exports_page(request):
    if request.method == "POST":
        form = ExportJobForm(request.POST)
        if form.is_valid() and _start(request, form) is not None:
            messages.success(request, "Export job started; it appears below and its download link once it is done.")
            return redirect("exports:exports")
    else:
        form = ExportJobForm(initial={"format": "ndjson", "range": "24h"})
    jobs = [job_row(job) for job in ExportJob.objects.order_by("-created_at")[:JOBS_LISTED]]
    context = {"nav_active": "exports", "form": form, "jobs": jobs, "jobs_listed": JOBS_LISTED}
    return render(request, "exports/exports.html", context, status=400 if form.errors else 200)


@dashboard_view(role=Role.AUDITOR)
@require_GET
def export_job(request, pk):
    """One job: its row (HTMX polling) or a page of its own."""
    job = ExportJob.objects.filter(id=pk).first()
    if job is None:
        return render(request, "exports/job_missing.html", {"nav_active": "exports"}, status=404)
    context = {"nav_active": "exports", "row": job_row(job)}
    if request.htmx:
        return render(request, "exports/_job.html", context)
    return render(request, "exports/job.html", context)
