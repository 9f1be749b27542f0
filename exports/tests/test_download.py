"""Downloads through a job's signed link: each one is recorded in the tenant's access trail (action EXPORT,
route export-download, the job's creator as actor) and counts against the tenant's read limit; a refused link
(missing, altered, expired) and a download over the limit record nothing."""

import gzip
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from exports.models import ExportJob
from exports.services import download_token
from ingest.models import Event
from search.trail import trail_discard, trail_flush
from tenants.models import Role
from tenants.selectors import tenant_policy_cache_clear

from .support import body_of, load_events

URL = "/api/v1/exports"


def _counters_clear():
    client = redis.Redis.from_url(django_settings.AUDITLOG["RATE_REDIS_URL"])
    keys = list(client.scan_iter(f"{django_settings.AUDITLOG['RATE_KEY_PREFIX']}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    trail_discard()
    tenant_policy_cache_clear()
    _counters_clear()
    yield
    trail_discard()
    tenant_policy_cache_clear()
    _counters_clear()


@pytest.fixture
def done_job(world, api, marker, django_capture_on_commit_callbacks):
    """done_job(credential) -> (job as the API shows it, its download link); the job's file holds 3 events."""
    load_events(world.acme.tenant, marker, 3)

    def create(credential, fmt="csv"):
        client = api(credential)
        with django_capture_on_commit_callbacks(execute=True):
            created = client.post(URL, {"format": fmt, "filters": {"source": marker}}, format="json")
        assert created.status_code == 202, created.content[:300]
        detail = client.get(f"{URL}/{created.json()['id']}").json()
        assert detail["status"] == "done" and detail["download_url"]
        trail_discard()  # what creating and polling left: only downloads are looked at here
        return detail, detail["download_url"]

    return create


def _downloads(tenant) -> list[Event]:
    trail_flush()
    connection.set_tenant(tenant)
    try:
        return list(Event.objects.filter(source="auditlog", metadata__route="export-download"))
    finally:
        connection.set_schema_to_public()


@pytest.mark.parametrize("creator", ["auditor", "export key"])
def test_each_download_is_recorded_once_in_its_tenant_with_the_creator_as_actor(world, api, marker, done_job, creator):
    credential = world.acme.tokens[Role.AUDITOR] if creator == "auditor" else world.acme.keys["export"]
    job, link = done_job(credential)
    response = api().get(link, HTTP_USER_AGENT="curl/8", HTTP_X_REQUEST_ID="req-download-1")  # no credential
    assert response.status_code == 200
    assert len(gzip.decompress(body_of(response)).splitlines()) == 1 + 3  # header and the 3 events

    [recorded] = _downloads(world.acme.tenant)
    assert recorded.actor_id == job["created_by"]["id"]
    if creator == "auditor":
        assert recorded.actor_id == f"user:{world.acme.users[Role.AUDITOR].pk}" and recorded.actor_type == "user"
    else:
        assert recorded.actor_id.startswith("apikey:") and recorded.actor_type == "service"
    assert recorded.action == "EXPORT" and recorded.resource_type == "log"
    assert recorded.metadata["job"] == job["id"] and recorded.metadata["format"] == "csv"
    assert recorded.metadata["filters"] == {"source": marker}
    assert recorded.user_agent == "curl/8" and recorded.request_id == "req-download-1"
    assert _downloads(world.globex.tenant) == []

    assert api().get(link).status_code == 200  # a second download: a second event
    assert len(_downloads(world.acme.tenant)) == 2


def test_refused_links_are_not_recorded_and_not_counted(world, api, done_job, settings):
    job, link = done_job(world.acme.keys["export"])
    token = parse_qs(urlsplit(link).query)["token"][0]
    path = f"{URL}/{job['id']}/download"
    connection.set_tenant(world.acme.tenant)
    expired, _ = download_token(
        ExportJob.objects.get(id=job["id"]), world.acme.tenant.schema_name, now=timezone.now() - timedelta(hours=2)
    )
    connection.set_schema_to_public()
    settings.AUDITLOG = {**settings.AUDITLOG, "RATE_READ_PER_MINUTE": 1}
    tenant_policy_cache_clear()
    anonymous = api()
    refused = [
        anonymous.get(path),
        anonymous.get(path, {"token": token[:-2] + ("AA" if not token.endswith("AA") else "BB")}),
        anonymous.get(path, {"token": expired}),
    ]
    assert [r.status_code for r in refused] == [400, 403, 403]
    assert not any(r.has_header("X-RateLimit-Limit") for r in refused)
    assert _downloads(world.acme.tenant) == []
    allowed = anonymous.get(link)  # the tenant's one read of the minute is still there
    assert allowed.status_code == 200 and allowed["X-RateLimit-Remaining"] == "0"
    assert len(_downloads(world.acme.tenant)) == 1


def test_downloads_over_the_tenants_read_limit_are_refused_and_not_recorded(world, api, done_job, settings):
    _job, link = done_job(world.acme.keys["export"])
    _globex_job, globex_link = done_job(world.globex.keys["export"])
    settings.AUDITLOG = {**settings.AUDITLOG, "RATE_READ_PER_MINUTE": 2}
    tenant_policy_cache_clear()
    first = api().get(link)
    assert first.status_code == 200 and (first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == ("2", "1")
    assert api(world.acme.keys["read"]).get("/api/v1/logs", {"limit": 1}).status_code == 200  # the same limit
    refused = api().get(link)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 30 and refused["X-RateLimit-Remaining"] == "0"
    assert len(_downloads(world.acme.tenant)) == 1  # the first one only

    assert api().get(globex_link).status_code == 200  # globex's own limit is untouched
    assert len(_downloads(world.globex.tenant)) == 1 and len(_downloads(world.acme.tenant)) == 1


def test_a_jobs_links_share_a_limit_of_their_own(world, api, done_job, settings):
    _job, link = done_job(world.acme.keys["export"])
    settings.AUDITLOG = {**settings.AUDITLOG, "RATE_READ_PER_MINUTE_PER_CREDENTIAL": 1}
    tenant_policy_cache_clear()
    assert api().get(link).status_code == 200
    assert api().get(link).status_code == 429
    assert api(world.acme.keys["read"]).get("/api/v1/logs", {"limit": 1}).status_code == 200  # not the tenant's


def test_openapi_documents_the_downloads_limit():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = schema["paths"]["/api/v1/exports/{id}/download"]["get"]["responses"]
    assert "Retry-After" in responses["429"]["headers"]
    assert "X-RateLimit-Remaining" in responses["200"]["headers"]
