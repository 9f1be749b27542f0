"""Statistics and exports pages in a real browser: the charts count the events posted through the API; an export
job started from the page is followed to its download link (HTMX polling included) and the file holds the
events; a User sees no Exports."""

import gzip
import re
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from exports.models import ExportJob, ExportStatus
from exports.services import export_job_run, export_storage
from ingest.relay import relay_drain
from tenants.models import Role


@pytest.fixture
def marker_jobs(world, marker):
    """Removes the export jobs of this test's marker (and their files) afterwards."""
    yield
    connection.set_tenant(world.acme.tenant)
    try:
        for job in ExportJob.objects.filter(filters__source=marker):
            if job.file_name:
                export_storage().delete(job.file_name)
            job.delete()
    finally:
        connection.set_schema_to_public()


def relayed(tenant) -> None:
    """Runs the relay of the tenant's outbox now, as the worker does within seconds (statistics count from the
    rollups it keeps; the live server's eager tasks run only the first kick of each debounce window)."""
    connection.set_tenant(tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()


def test_the_stats_page_charts_the_posted_events(page, sign_in, post_event, marker, world):
    for action in ("LOGIN", "LOGIN", "DELETE"):
        post_event(action=action, severity="WARNING" if action == "DELETE" else "INFO")
    relayed(world.acme.tenant)
    errors = []  # a script or style the Content-Security-Policy blocked would show here
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.location.get("url", "").endswith("/favicon.ico")
            and errors.append(message.text)
        ),
    )
    sign_in(page, Role.AUDITOR)
    page.goto(f"/app/stats?source={marker}")
    expect(page.get_by_role("heading", name="Statistics", exact=True)).to_be_visible()
    expect(page.locator("#stats-total")).to_have_text("3")
    expect(page.locator("svg.chart-series")).to_be_visible()
    assert page.locator("svg.chart").count() == 6
    actions = page.locator("svg#chart-action, section[aria-labelledby='stats-action-title'] svg")
    expect(actions).to_contain_text("LOGIN")
    page.get_by_text("Table of events by action").click()
    rows = page.locator("#stats-action tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("LOGIN")
    expect(rows.nth(0).locator("td")).to_have_text("2")
    expect(rows.nth(1).locator("td")).to_have_text("1")
    severities = page.locator("section[aria-labelledby='stats-severity-title'] svg text.chart-value")
    expect(severities).to_have_text(["2", "1"])
    assert errors == []

    page.locator("section[aria-labelledby='stats-action-title'] svg a").first.click()  # the LOGIN bar
    expect(page).to_have_url(re.compile(rf"/app/logs\?.*source={marker}.*action=LOGIN"))


def test_the_stats_page_fits_a_phone(phone_page, sign_in, post_event, marker, world):
    post_event(action="LOGIN")
    relayed(world.acme.tenant)
    sign_in(phone_page, Role.USER)
    phone_page.goto(f"/app/stats?source={marker}&range=7d")
    expect(phone_page.locator("#stats-total")).to_have_text("1")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    assert phone_page.locator("svg.chart-series").bounding_box()["width"] <= 375


def test_an_auditor_exports_and_downloads_the_events(page, sign_in, post_event, marker, marker_jobs, tmp_path):
    posted = {post_event(action=action)["id"] for action in ("CREATE", "UPDATE", "DELETE")}
    sign_in(page, Role.AUDITOR)
    page.goto("/app/stats")
    page.get_by_role("link", name="Exports").click()
    expect(page).to_have_url(re.compile(r"/app/exports$"))
    page.get_by_label("Format").select_option("ndjson")
    page.get_by_label("Time range").select_option("24h")
    page.get_by_label("Source", exact=True).fill(marker)
    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_role("status")).to_contain_text("Export job started")
    expect(page.locator("#export-jobs li")).to_have_count(1)
    job = page.locator("#export-jobs li").first
    expect(job).to_have_attribute("data-status", "done")
    expect(job).to_contain_text("3 of 3")
    with page.expect_download() as download_info:
        job.get_by_role("link", name="Download").click()
    download = download_info.value
    assert re.fullmatch(r"auditlog-acme-\d{8}T\d{6}Z\.ndjson\.gz", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = [orjson.loads(line) for line in gzip.decompress(Path(saved).read_bytes()).splitlines()]
    assert {row["id"] for row in rows} == posted and {row["source"] for row in rows} == {marker}


def test_a_running_job_is_followed_until_its_link_appears(page, sign_in, post_event, world, marker, marker_jobs):
    post_event(action="LOGIN")
    connection.set_tenant(world.acme.tenant)
    try:
        job = ExportJob.objects.create(
            created_by={"id": "user:test", "type": "user", "name": "someone"},
            filters={"source": marker},
            format="csv",
            sensitive=True,
            access_trail=True,
            expires_at=timezone.now() + timedelta(hours=1),
        )
    finally:
        connection.set_schema_to_public()
    sign_in(page, Role.ADMIN)
    page.goto("/app/exports")
    row = page.locator(f"#job-{job.id}")
    expect(row).to_have_attribute("data-status", "queued")
    expect(row.locator("progress")).to_be_visible()
    connection.set_tenant(world.acme.tenant)  # the worker runs it meanwhile
    try:
        assert export_job_run(str(job.id)) == ExportStatus.DONE
    finally:
        connection.set_schema_to_public()
    expect(row).to_have_attribute("data-status", "done", timeout=5000)  # polled, no reload
    expect(row.get_by_role("link", name="Download")).to_have_attribute("href", re.compile(r"download\?token="))
    expect(row.locator("progress")).to_have_count(0)


def test_a_user_has_no_exports(page, sign_in, live_server_url):
    sign_in(page, Role.USER)
    page.goto("/app/stats")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Stats")).to_be_visible()
    expect(nav.get_by_role("link", name="Exports")).to_have_count(0)
    response = page.goto("/app/exports")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_the_exports_page_fits_a_phone(phone_page, sign_in):
    sign_in(phone_page, Role.AUDITOR)
    phone_page.goto("/app/exports")
    expect(phone_page.get_by_role("button", name="Start export")).to_be_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
