"""The exports page /app/exports: Auditors and Admins start export jobs through the job service (its formats,
filters, limits), follow their progress (an HTMX partial polled while queued or running) and download the file
through the API's signed link; Users are refused; another tenant's jobs are never listed nor found; bad input is
a form error with nothing stored; CSRF is enforced."""

import gzip
import re
import uuid
from datetime import datetime, timedelta

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from exports.models import ExportJob, ExportStatus
from ingest.models import Event
from search.trail import trail_discard, trail_flush
from tenants.models import Role

from .support import T0, body_of, load_events

URL = "/app/exports"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def export_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    trail_discard()
    yield tmp_path
    trail_discard()


def signed_in(client, tw, role: str):
    client.force_login(tw.users[role])
    return client


def jobs_of(tenant) -> list[ExportJob]:
    connection.set_tenant(tenant)
    try:
        return list(ExportJob.objects.order_by("-created_at"))
    finally:
        connection.set_schema_to_public()


def start(client, tenant, form: dict, capture):
    """POST the form; the job's task runs once the request's transaction commits, in the tenant's schema (as
    it does in production, where the service's on_commit fires inside the request)."""
    with capture() as callbacks:
        response = client.post(URL, form)
    connection.set_tenant(tenant)
    try:
        for callback in callbacks:
            callback()
    finally:
        connection.set_schema_to_public()
    return response


def custom_range(marker: str, **extra) -> dict:
    return {
        "format": "ndjson",
        "range": "custom",
        "from": T0.strftime("%Y-%m-%dT%H:%M"),
        "to": (T0 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "source": marker,
        **extra,
    }


def test_an_auditor_starts_a_job_follows_it_and_downloads_the_file(
    world, client, marker, django_capture_on_commit_callbacks
):
    load_events(world.acme.tenant, marker, 32)
    auditor = signed_in(client, world.acme, Role.AUDITOR)
    form = custom_range(marker, severity=["ERROR", "CRITICAL"])
    response = start(auditor, world.acme.tenant, form, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"] == URL
    [job] = jobs_of(world.acme.tenant)
    assert job.status == ExportStatus.DONE and job.rows == 16 and job.format == "ndjson"
    assert job.filters == {
        "from": T0.isoformat(),
        "to": (T0 + timedelta(days=1)).isoformat(),
        "source": marker,
        "severity": "ERROR,CRITICAL",
    }
    assert job.sensitive and job.access_trail  # an Auditor's audience
    assert job.created_by["id"] == f"user:{world.acme.users[Role.AUDITOR].pk}"

    page = auditor.get(URL)
    html = page.content.decode()
    assert page.status_code == 200 and "Export job started" in html
    assert f'id="job-{job.id}"' in html and 'data-status="done"' in html

    row = auditor.get(f"{URL}/{job.id}", **HTMX)
    fragment = row.content.decode()
    assert row.status_code == 200 and fragment.lstrip().startswith("<li")  # the row alone, for the swap
    assert 'data-status="done"' in fragment and "hx-trigger" not in fragment  # done: polling stops
    assert "16 of 16" in fragment
    link = re.search(r'href="(/api/v1/exports/[^"]+/download\?token=[^"]+)"', fragment).group(1)
    download = Client().get(link.replace("&amp;", "&"))  # the link alone is the credential
    assert download.status_code == 200 and download["Content-Type"] == "application/gzip"
    rows = [orjson.loads(line) for line in gzip.decompress(body_of(download)).splitlines()]
    assert len(rows) == 16 and {r["source"] for r in rows} == {marker}
    assert {r["severity"] for r in rows} == {"ERROR", "CRITICAL"}

    whole = auditor.get(f"{URL}/{job.id}")  # without HTMX: a page of its own
    assert whole.status_code == 200 and "<!doctype html>" in whole.content.decode()


def test_a_queued_job_polls_for_its_progress(world, client, marker):
    auditor = signed_in(client, world.acme, Role.ADMIN)
    response = auditor.post(URL, custom_range(marker, format="csv"))  # its task waits for a commit: stays queued
    assert response.status_code == 302
    [job] = jobs_of(world.acme.tenant)
    assert job.status == ExportStatus.QUEUED
    fragment = auditor.get(f"{URL}/{job.id}", **HTMX).content.decode()
    assert f'hx-get="/app/exports/{job.id}"' in fragment and 'hx-trigger="every 1s"' in fragment
    assert 'hx-swap="outerHTML"' in fragment and "<progress" in fragment and "download?token" not in fragment
    connection.set_tenant(world.acme.tenant)
    ExportJob.objects.filter(id=job.id).update(status=ExportStatus.RUNNING, rows=40, total=100, progress=0.4)
    connection.set_schema_to_public()
    fragment = auditor.get(f"{URL}/{job.id}", **HTMX).content.decode()
    assert 'value="40"' in fragment and "40 of 100" in fragment and "hx-trigger" in fragment
    connection.set_tenant(world.acme.tenant)
    ExportJob.objects.filter(id=job.id).update(status=ExportStatus.FAILED, error="The export failed (OSError).")
    connection.set_schema_to_public()
    fragment = auditor.get(f"{URL}/{job.id}", **HTMX).content.decode()
    assert "hx-trigger" not in fragment and "The export failed (OSError)." in fragment


def test_users_are_refused_and_do_not_see_exports(world, client):
    user = signed_in(client, world.acme, Role.USER)
    assert user.get(URL).status_code == 403
    assert user.post(URL, {"format": "ndjson", "range": "24h"}).status_code == 403
    assert user.get(f"{URL}/{uuid.uuid4()}").status_code == 403
    assert jobs_of(world.acme.tenant) == []
    assert 'href="/app/exports"' not in user.get("/app/stats").content.decode()
    client.logout()
    anonymous = client.get(URL)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/app/login?next=")
    auditor = signed_in(client, world.acme, Role.AUDITOR).get(URL)
    assert auditor.status_code == 200 and 'aria-current="page">Exports' in auditor.content.decode()


def test_another_tenants_jobs_are_never_listed_nor_found(world, client, marker):
    globex = signed_in(client, world.globex, Role.AUDITOR)
    assert globex.post(URL, custom_range(marker)).status_code == 302
    [globex_job] = jobs_of(world.globex.tenant)
    client.logout()
    acme = signed_in(client, world.acme, Role.ADMIN)
    assert acme.post(URL, custom_range(marker)).status_code == 302
    [acme_job] = jobs_of(world.acme.tenant)
    html = acme.get(URL).content.decode()
    assert str(acme_job.id) in html and str(globex_job.id) not in html
    assert acme.get(f"{URL}/{globex_job.id}").status_code == 404
    assert acme.get(f"{URL}/{globex_job.id}", **HTMX).status_code == 404
    assert acme.get(f"{URL}/{uuid.uuid4()}").status_code == 404
    assert acme.get(f"{URL}/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"format": "xlsx", "range": "24h"}, "format", "Select a valid choice"),
        ({"format": "csv", "range": "custom"}, "from", "needs a start or an end"),
        ({"format": "csv", "range": "custom", "from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "from", "before"),
        ({"format": "csv", "range": "custom", "to": "soon"}, "to", ""),
        ({"format": "csv", "range": "24h", "severity": "LOUD"}, "severity", "Select a valid choice"),
        ({"format": "csv", "range": "24h", "action": "A" * 300}, "action", "at most 256 characters"),
        ({"format": "csv"}, "range", "required"),
    ],
)
def test_bad_input_is_a_form_error_and_stores_nothing(world, client, form, field, message):
    response = signed_in(client, world.acme, Role.AUDITOR).post(URL, form)
    html = response.content.decode()
    assert response.status_code == 400, html[:300]
    errors = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert errors and message in errors.group(1), html
    assert jobs_of(world.acme.tenant) == []


def test_the_active_jobs_limit_is_a_clear_form_error(world, client, settings, marker):
    settings.AUDITLOG = {**settings.AUDITLOG, "EXPORT_JOBS_ACTIVE_MAX": 1}
    auditor = signed_in(client, world.acme, Role.AUDITOR)
    assert auditor.post(URL, custom_range(marker)).status_code == 302  # queued, not run (no commit in a test)
    response = auditor.post(URL, custom_range(marker))
    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(r'class="errorlist nonfield".*At most 1 export jobs may be queued or running', html, re.S)
    assert len(jobs_of(world.acme.tenant)) == 1


def test_csrf_is_enforced(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.acme.users[Role.AUDITOR])
    assert client.post(URL, {"format": "ndjson", "range": "24h"}).status_code == 403
    assert jobs_of(world.acme.tenant) == []
    page = client.get(URL).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(URL, {"format": "ndjson", "range": "24h", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and len(jobs_of(world.acme.tenant)) == 1


def test_presets_and_everything(world, client):
    auditor = signed_in(client, world.acme, Role.AUDITOR)
    before = timezone.now()
    assert auditor.post(URL, {"format": "json", "range": "7d"}).status_code == 302
    assert auditor.post(URL, {"format": "csv", "range": "all", "q": "payment"}).status_code == 302
    everything, week = jobs_of(world.acme.tenant)
    start = datetime.fromisoformat(week.filters["from"])
    assert before - timedelta(days=7, seconds=1) <= start <= timezone.now() - timedelta(days=7)
    assert set(week.filters) == {"from"} and week.format == "json"
    assert everything.filters == {"q": "payment"}


def test_starting_a_job_is_recorded_in_the_access_trail(world, client, marker):
    signed_in(client, world.acme, Role.AUDITOR).post(URL, custom_range(marker, format="csv"))
    [job] = jobs_of(world.acme.tenant)
    trail_flush()
    connection.set_tenant(world.acme.tenant)
    try:
        recorded = Event.objects.get(source="auditlog", action="EXPORT", metadata__job=str(job.id))
    finally:
        connection.set_schema_to_public()
    assert recorded.actor_id == f"user:{world.acme.users[Role.AUDITOR].pk}"
    assert recorded.metadata["filters"]["source"] == marker and recorded.metadata["format"] == "csv"
    assert recorded.metadata["route"] == "exports:exports"
