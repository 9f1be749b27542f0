"""Export jobs: POST /api/v1/exports -> 202, the Celery job (eager) writes a gzip file into the tenant's
storage path with its progress, GET /api/v1/exports/{id} gives the signed link, the link serves the file;
expired, altered and other jobs' links are refused; another tenant never sees a job; files expire."""

import gzip
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exports.models import ExportJob, ExportStatus
from exports.services import download_token
from exports.tasks import exports_expire, exports_expire_all_tenants
from ingest.models import Event
from search.trail import trail_discard, trail_flush
from tenants.models import Role

from .support import as_json, body_of, list_all, load_events

URL = "/api/v1/exports"


@pytest.fixture(autouse=True)
def export_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    trail_discard()
    yield tmp_path
    trail_discard()


def _create(client, body, capture) -> dict:
    with capture(execute=True):
        response = client.post(URL, body, format="json")
    assert response.status_code == 202, response.content[:300]
    return response.json()


def _job(tenant, job_id) -> ExportJob:
    connection.set_tenant(tenant)
    try:
        return ExportJob.objects.get(id=job_id)
    finally:
        connection.set_schema_to_public()


def test_a_job_runs_end_to_end_and_its_link_serves_the_file(
    world, api, marker, django_capture_on_commit_callbacks, export_storage
):
    load_events(world.acme.tenant, marker, 250)
    auditor = api(world.acme.tokens[Role.AUDITOR])
    created = _create(auditor, {"format": "csv", "filters": {"source": marker}}, django_capture_on_commit_callbacks)
    assert created["status"] == "queued" and created["download_url"] is None and created["format"] == "csv"
    assert created["filters"] == {"source": marker}
    assert created["created_by"]["id"].startswith("user:")

    detail = auditor.get(f"{URL}/{created['id']}").json()
    assert detail["status"] == "done", detail
    assert detail["rows"] == detail["total"] == 250 and detail["progress"] == 1.0
    assert detail["size"] > 0 and detail["finished_at"] >= detail["started_at"]
    assert detail["download_expires_at"] <= detail["expires_at"]
    relative = f"exports/{world.acme.tenant.schema_name}/{created['id']}.csv.gz"
    assert storages["exports"].exists(relative) and (export_storage / relative).is_file()  # the schema's own path

    download = api().get(detail["download_url"])  # no credential: the link is enough
    assert download.status_code == 200 and download["Content-Type"] == "application/gzip"
    assert download["Content-Disposition"].startswith('attachment; filename="auditlog-acme-')
    assert download["Content-Disposition"].endswith('.csv.gz"')
    text = gzip.decompress(body_of(download)).decode()
    streamed = body_of(api(world.acme.keys["export"]).get("/api/v1/logs/export", {"source": marker, "format": "csv"}))
    assert text == streamed.decode()  # the same file as the streamed export
    assert len(text.splitlines()) == 251

    listed = auditor.get(URL).json()["results"]
    assert listed[0]["id"] == created["id"] and listed[0]["download_url"]


def test_ndjson_job_rows_equal_the_list(world, api, marker, django_capture_on_commit_callbacks):
    load_events(world.acme.tenant, marker, 120)
    key = api(world.acme.keys["export"])
    job = _create(
        key, {"filters": {"source": marker, "severity": ["ERROR", "CRITICAL"]}}, django_capture_on_commit_callbacks
    )
    detail = key.get(f"{URL}/{job['id']}").json()
    assert detail["format"] == "ndjson" and detail["rows"] == 60
    rows = [orjson.loads(line) for line in gzip.decompress(body_of(api().get(detail["download_url"]))).splitlines()]
    expected = list_all(api(world.acme.tokens[Role.ADMIN]), {"source": marker, "severity": "ERROR,CRITICAL"})
    assert rows == as_json(expected)


def test_progress_is_committed_every_n_rows(world, api, marker, settings, django_capture_on_commit_callbacks):
    settings.AUDITLOG = {**settings.AUDITLOG, "EXPORT_PROGRESS_ROWS": 40, "EXPORT_FETCH_ROWS": 20}
    load_events(world.acme.tenant, marker, 200)
    with CaptureQueriesContext(connection) as queries:
        job = _create(
            api(world.acme.keys["export"]), {"filters": {"source": marker}}, django_capture_on_commit_callbacks
        )
    progress = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "exports_exportjob" SET "rows"')]
    assert len(progress) == 200 // 40 - 1 + 1  # at 40, 80, 120, 160 rows, then done at 200
    assert _job(world.acme.tenant, job["id"]).status == ExportStatus.DONE


def test_links_expire_and_cannot_be_altered_or_reused_for_another_job(
    world, api, marker, django_capture_on_commit_callbacks
):
    load_events(world.acme.tenant, marker, 10)
    key = api(world.acme.keys["export"])
    first = _create(key, {"filters": {"source": marker}}, django_capture_on_commit_callbacks)
    second = _create(key, {"format": "json", "filters": {"source": marker}}, django_capture_on_commit_callbacks)
    link = key.get(f"{URL}/{first['id']}").json()["download_url"]
    token = parse_qs(urlsplit(link).query)["token"][0]
    anonymous = api()
    assert anonymous.get(link).status_code == 200

    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = anonymous.get(f"{URL}/{first['id']}/download", {"token": altered})
    assert response.status_code == 403 and "not valid" in response.json()["error"]["message"]
    response = anonymous.get(f"{URL}/{second['id']}/download", {"token": token})  # another job's token
    assert response.status_code == 403
    missing = anonymous.get(f"{URL}/{first['id']}/download")
    assert missing.status_code == 400 and "token" in missing.json()["error"]["details"]

    job = _job(world.acme.tenant, first["id"])
    old, _ = download_token(job, world.acme.tenant.schema_name, now=timezone.now() - timedelta(hours=2))
    response = anonymous.get(f"{URL}/{first['id']}/download", {"token": old})
    assert response.status_code == 403 and "expired" in response.json()["error"]["message"]


def test_another_tenant_never_sees_a_job_and_its_link_opens_only_that_job(
    world, api, marker, django_capture_on_commit_callbacks
):
    load_events(world.acme.tenant, marker, 10)
    acme_job = _create(
        api(world.acme.keys["export"]), {"filters": {"source": marker}}, django_capture_on_commit_callbacks
    )
    globex = api(world.globex.keys["export"])
    assert globex.get(f"{URL}/{acme_job['id']}").status_code == 404
    assert api(world.globex.tokens[Role.ADMIN]).get(f"{URL}/{acme_job['id']}").status_code == 404
    assert acme_job["id"] not in {j["id"] for j in globex.get(URL).json()["results"]}

    globex_job = _create(globex, {"filters": {"source": marker}}, django_capture_on_commit_callbacks)
    globex_link = globex.get(f"{URL}/{globex_job['id']}").json()["download_url"]
    globex_token = parse_qs(urlsplit(globex_link).query)["token"][0]
    # globex's token on acme's job: refused, whoever calls
    for client in (api(), api(world.globex.keys["export"]), api(world.acme.keys["export"])):
        assert client.get(f"{URL}/{acme_job['id']}/download", {"token": globex_token}).status_code == 403
    assert gzip.decompress(body_of(api().get(globex_link))) == b""  # globex has no event of the marker
    acme_link = api(world.acme.keys["export"]).get(f"{URL}/{acme_job['id']}").json()["download_url"]
    assert len(gzip.decompress(body_of(api(world.globex.keys["export"]).get(acme_link))).splitlines()) == 10


def test_files_and_jobs_expire(world, api, marker, django_capture_on_commit_callbacks, export_storage):
    load_events(world.acme.tenant, marker, 5)
    key = api(world.acme.keys["export"])
    job = _create(key, {"filters": {"source": marker}}, django_capture_on_commit_callbacks)
    kept = _create(key, {"filters": {"source": marker}}, django_capture_on_commit_callbacks)
    link = key.get(f"{URL}/{job['id']}").json()["download_url"]
    path = export_storage / f"exports/{world.acme.tenant.schema_name}/{job['id']}.ndjson.gz"
    assert path.is_file()
    connection.set_tenant(world.acme.tenant)
    ExportJob.objects.filter(id=job["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    connection.set_schema_to_public()
    assert api().get(link).status_code == 404  # past its expiry, even before the sweep

    exports_expire_all_tenants.delay()  # beat: fans out to every tenant (eager here)
    assert not path.exists()
    detail = key.get(f"{URL}/{job['id']}").json()
    assert detail["status"] == "expired" and detail["download_url"] is None
    assert api().get(link).status_code == 404
    assert key.get(f"{URL}/{kept['id']}").json()["status"] == "done"  # not expired yet: untouched
    connection.set_tenant(world.acme.tenant)
    try:
        assert exports_expire.apply().get() == 0  # nothing left to expire
    finally:
        connection.set_schema_to_public()


def test_a_failed_job_says_so(world, api, marker, settings, tmp_path, django_capture_on_commit_callbacks):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {**settings.STORAGES["exports"], "OPTIONS": {"location": str(blocker)}},
    }
    load_events(world.acme.tenant, marker, 5)
    key = api(world.acme.keys["export"])
    job = _create(key, {"filters": {"source": marker}}, django_capture_on_commit_callbacks)
    detail = key.get(f"{URL}/{job['id']}").json()
    assert detail["status"] == "failed" and detail["download_url"] is None
    assert detail["error"].startswith("The export failed")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"format": "xlsx"}, "format"),
        ({"filters": {"severity": "LOUD"}}, "filters.severity"),
        ({"filters": {"limit": "5"}}, "filters.limit"),
        ({"filters": {"source": 5}}, "filters.source"),
        ({"filters": "source=x"}, "filters"),
        ({"filter": {}}, "filter"),
    ],
)
def test_bad_requests_store_nothing(world, api, body, field):
    connection.set_tenant(world.acme.tenant)
    before = ExportJob.objects.count()
    connection.set_schema_to_public()
    response = api(world.acme.keys["export"]).post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["details"], response.json()
    connection.set_tenant(world.acme.tenant)
    assert ExportJob.objects.count() == before
    connection.set_schema_to_public()


@pytest.mark.parametrize("who", ["read key", "User"])
def test_users_and_read_keys_may_not_use_jobs(world, api, who):
    credential = world.acme.keys["read"] if who == "read key" else world.acme.tokens[Role.USER]
    assert api(credential).post(URL, {}, format="json").status_code == 403
    assert api(credential).get(URL).status_code == 403


def test_active_jobs_are_capped_per_tenant(world, api, settings):
    settings.AUDITLOG = {**settings.AUDITLOG, "EXPORT_JOBS_ACTIVE_MAX": 2}
    key = api(world.acme.keys["export"])
    assert key.post(URL, {}, format="json").status_code == 202  # queued (not run: no commit in a test)
    assert key.post(URL, {}, format="json").status_code == 202
    response = key.post(URL, {}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert api(world.globex.keys["export"]).post(URL, {}, format="json").status_code == 202  # globex's own count


def test_creating_a_job_is_recorded_in_the_access_trail(world, api, marker):
    job = api(world.acme.tokens[Role.AUDITOR]).post(
        URL, {"format": "csv", "filters": {"source": marker}}, format="json"
    )
    trail_flush()
    connection.set_tenant(world.acme.tenant)
    try:
        recorded = Event.objects.get(source="auditlog", action="EXPORT", metadata__job=job.json()["id"])
    finally:
        connection.set_schema_to_public()
    assert recorded.actor_id == f"user:{world.acme.users[Role.AUDITOR].pk}"
    assert recorded.metadata["filters"] == {"source": marker} and recorded.metadata["format"] == "csv"
    assert recorded.metadata["route"] == "export-list"
