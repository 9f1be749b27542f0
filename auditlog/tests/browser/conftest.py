"""Browser tests of the dashboard: Python playwright (sync API) driving Debian's Chromium against a live server.

The live server is uvicorn in a subprocess (as scripts/run.sh starts it), on a free port, with the test settings
(auditlog.settings_test: tasks eager) and the test database of this run, so it serves the committed test world
(tenants acme and globex with a person of each role, see the root conftest). Data written during a test is
committed; what a test creates is removed after it (see `committed_cleanup`). The server and the browser are
started once per run, on first use, and stopped at its end; its output is in test-artifacts/live-server.log.

Fixtures:
- `live_server_url`: "http://localhost:<port>" (a tenant's subdomain: `tenant_url("acme")`).
- `tenant_url(slug, path="")`: "http://<slug>.localhost:<port><path>" (Chromium resolves *.localhost itself).
- `browser`: the Chromium browser (for this package's tests); `page`: a fresh context and page per test
  (viewport 1280x800; `phone_page` has 375x740), default timeout 10 s. A failed test saves a screenshot of `page`
  (or `phone_page`) to test-artifacts/<test name>.png.
- `sign_in(page, role, tenant="acme")`: signs `page` in as that tenant's person of this role (Role.USER,
  Role.AUDITOR, Role.ADMIN; users `<tenant>-user`, `-auditor`, `-admin`) with the tenant chosen, without going
  through the login form (test_account.py tests that); returns the User. Then `page.goto(live_server_url +
  "/app/logs")`.
- `make_person(memberships={"acme": Role.USER, ...}, staff=False)`: a new person (removed after the test);
  returns (user, password). Use it for anything that changes a person (password, roles).
- `post_event(tenant="acme", **fields)`: posts one event through the API of the live server with the tenant's
  ingest key; fields default to a valid event (`conftest.event_body`) with `source=marker`, so it is removed after
  the test; returns the stored event (dict).
- `world`: the committed test world (root conftest's `committed_world`); `marker`: this test's unique source.
- `api_get(path, tenant="acme", scope="read")`: GET on the live server with one of the tenant's keys -> JSON.

Keep each test under ~10 s: sign in with `sign_in`, wait on elements (`expect(...)`), never on fixed sleeps.
"""

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection, connections
from django.test import Client

from conftest import PASSWORD, event_body
from tenants.dashboard import SESSION_TENANT
from tenants.models import ApiKey, Membership, Role, Tenant, TenantSettings, User

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
DEFAULT_TIMEOUT_MS = 10_000
STARTUP_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


class LiveServer:
    """uvicorn serving the test database, in a process group of its own (stopped with the whole group)."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"http://localhost:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = ARTIFACTS / "live-server.log"

    def start(self) -> None:
        db = connections["default"].settings_dict  # after set-up: NAME is the test database's (renamed) name
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "auditlog.settings_test",
            "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}:{db['PASSWORD'] or ''}@{db['HOST'] or 'localhost'}"
            f":{db['PORT'] or 5432}/{db['NAME']}",
            # The rate-limit counters and the cache keys of this run (settings_test derives them from this name).
            "TEST_DATABASE_NAME": db["TEST"]["NAME"] or db["NAME"],
            "DEBUG": "0",  # as in production (error pages, no debug toolbar)...
            "SECURE_COOKIES": "0",  # ...but over plain HTTP, so the browser sends the session cookie back
            "DB_POOL_MIN": "1",
            "DB_POOL_MAX": "8",
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            sys.executable, "-m", "uvicorn", "auditlog.asgi:application", "--host", "127.0.0.1", "--port",
            str(self.port), "--no-access-log", "--log-level", "warning", "--lifespan", "off",
            "--ws-per-message-deflate", "false",
        ]  # fmt: skip
        ARTIFACTS.mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(self.url):
            if self.process.poll() is not None:
                raise RuntimeError(f"The live server exited with code {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The live server did not answer within {STARTUP_SECONDS} s; see {self.log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="session")
def dashboard_server(django_db_setup):
    server = LiveServer()
    atexit.register(server.stop)  # also when the run ends without its fixtures' teardown
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server_url(dashboard_server) -> str:
    return dashboard_server.url


@pytest.fixture(scope="session")
def tenant_url(dashboard_server):
    def make(slug: str, path: str = "") -> str:
        return f"http://{slug}.localhost:{dashboard_server.port}{path}"

    return make


@pytest.fixture(scope="package")
def browser(django_db_setup):
    """Chromium, for the browser tests only: playwright's sync API keeps an event loop running in this thread
    while it is started, so Django's ORM is told that sync calls here are fine (they are: nothing else runs on
    that loop), and playwright is stopped once the browser tests are done, for the tests after them."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"No Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        # Connections opened meanwhile are kept per context while the loop runs (asgiref.local): closed here,
        # in that context, or the test database could not be dropped at the end of the run.
        connections.close_all()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, for the screenshot on failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _screenshot_on_failure(request, page) -> None:
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:150]
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except Exception as exc:  # a crashed page has no screenshot; the test's own failure is what matters
        print(f"No screenshot of {name}: {exc}")


def _page(request, browser, live_server_url, viewport):
    context = browser.new_context(base_url=live_server_url, viewport=viewport)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        _screenshot_on_failure(request, page)
        context.close()


@pytest.fixture
def page(request, browser, live_server_url, committed_cleanup):
    yield from _page(request, browser, live_server_url, {"width": 1280, "height": 800})


@pytest.fixture
def phone_page(request, browser, live_server_url, committed_cleanup):
    yield from _page(request, browser, live_server_url, {"width": 375, "height": 740})


@pytest.fixture
def world(committed_world):
    """The committed test world (browser tests never run inside a test transaction)."""
    return committed_world


def _tenant_rows_max(tenant: Tenant) -> dict:
    from analytics.models import AlertRule
    from exports.models import ExportJob

    connection.set_tenant(tenant)
    try:
        # The rows that exist now (export jobs have random UUID keys: no "greater than the last" to go by).
        return {model: set(model.objects.values_list("pk", flat=True)) for model in (AlertRule, ExportJob)}
    finally:
        connection.set_schema_to_public()


@pytest.fixture
def committed_cleanup(committed_world):
    """Removes what a test created through the live server (people, memberships, API keys, alert rules, export
    jobs; events: see `marker`) and restores the tenants' settings, so later tests find the world as built."""
    public = (User, Membership, ApiKey)
    tenants = [committed_world.acme.tenant, committed_world.globex.tenant]
    before = {model: model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0 for model in public}
    tenant_before = {tenant.pk: _tenant_rows_max(tenant) for tenant in tenants}
    policies = {row.pk: row for row in TenantSettings.objects.filter(tenant__in=tenants)}
    revoked = set(ApiKey.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True))
    roles = dict(Membership.objects.values_list("pk", "role"))
    yield
    connection.set_schema_to_public()
    for tenant in tenants:
        connection.set_tenant(tenant)
        for model, existing in tenant_before[tenant.pk].items():
            model.objects.exclude(pk__in=existing).delete()
        connection.set_schema_to_public()
    for model in reversed(public):
        model.objects.filter(pk__gt=before[model]).delete()
    ApiKey.objects.filter(revoked_at__isnull=False).exclude(pk__in=revoked).update(revoked_at=None)
    for pk, role in roles.items():
        Membership.objects.filter(pk=pk).exclude(role=role).update(role=role)
    TenantSettings.objects.filter(tenant__in=tenants).exclude(pk__in=policies).delete()
    for row in policies.values():
        row.save()


@pytest.fixture
def sign_in(live_server_url, committed_world):
    def sign(page, role: str = Role.USER, tenant: str = "acme") -> User:
        user = getattr(committed_world, tenant).users[role]
        return sign_in_as(page, user, tenant, live_server_url)

    return sign


def sign_in_as(page, user: User, tenant: str | None, url: str) -> User:
    """A session for this person (tenant chosen), as the login form would make it, given to the page's context."""
    client = Client()
    client.force_login(user)
    if tenant is not None:
        session = client.session
        session[SESSION_TENANT] = tenant
        session.save()
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}])
    return user


@pytest.fixture
def make_person(committed_cleanup):
    """make_person(memberships={"acme": Role.USER}, staff=False) -> (user, password); removed after the test."""
    counter = iter(range(1, 1000))

    def make(memberships: dict[str, str] | None = None, staff: bool = False) -> tuple[User, str]:
        username = f"browser-{os.getpid()}-{time.monotonic_ns() % 10**9}-{next(counter)}"
        user = User.objects.create_user(username=username, email=f"{username}@example.test", password=PASSWORD)
        if staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        for slug, role in (memberships or {}).items():
            Membership.objects.create(user=user, tenant=Tenant.objects.get(slug=slug), role=role)
        return user, PASSWORD

    return make


@pytest.fixture
def post_event(live_server_url, committed_world, marker):
    def post(tenant: str = "acme", **fields) -> dict:
        body = event_body(**{"source": marker, **fields})
        key = getattr(committed_world, tenant).keys["ingest"]
        response = requests.post(
            f"{live_server_url}/api/v1/logs", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert response.status_code == 201, response.text
        return response.json()

    return post


@pytest.fixture
def api_get(live_server_url, committed_world):
    def get(path: str, tenant: str = "acme", scope: str = "read", **params) -> dict:
        key = getattr(committed_world, tenant).keys[scope]
        response = requests.get(
            f"{live_server_url}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    return get
