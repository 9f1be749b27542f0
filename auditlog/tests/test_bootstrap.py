"""`manage.py bootstrap_demo` (run by `make run`): the printed credentials and curl line work."""

import io
import json
import re
import shlex

from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from tenants.models import Tenant


def test_demo_tenant_is_created_once_and_its_curl_line_works(db, tmp_path):
    connection.set_schema_to_public()
    Tenant.objects.all().delete()  # rows only, rolled back with the test; schemas stay
    creds_file = tmp_path / "demo.json"
    out = io.StringIO()
    call_command("bootstrap_demo", credentials_file=creds_file, stdout=out)
    creds = json.loads(creds_file.read_text())
    assert creds_file.stat().st_mode & 0o077 == 0
    assert creds["ingest_key"] in out.getvalue() and creds["password"] in out.getvalue()

    curl = shlex.split(re.search(r"curl -s -X POST .*?(?=\nRead it back)", out.getvalue(), re.S)[0].replace("\\\n", ""))
    headers = dict(h.split(": ", 1) for h in (curl[i + 1] for i, a in enumerate(curl) if a == "-H"))
    body = curl[curl.index("-d") + 1]
    client = APIClient()
    created = client.post(
        "/api/v1/logs", body, content_type="application/json", HTTP_AUTHORIZATION=headers["Authorization"]
    )
    assert created.status_code == 201, created.content
    listed = client.get("/api/v1/logs", HTTP_AUTHORIZATION=f"Bearer {creds['read_key']}")
    assert [e["id"] for e in listed.json()["results"]] == [created.json()["id"]]

    again = io.StringIO()
    call_command("bootstrap_demo", credentials_file=creds_file, stdout=again)
    assert "Created" not in again.getvalue() and creds["ingest_key"] in again.getvalue()
    assert Tenant.objects.filter(slug="demo").count() == 1


def test_without_credentials_file_it_says_so(db, tmp_path, world):
    out = io.StringIO()
    call_command("bootstrap_demo", credentials_file=tmp_path / "none.json", stdout=out)
    assert "no demo credentials" in out.getvalue()
