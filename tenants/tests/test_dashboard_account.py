"""The dashboard's account pages (sign-in, sign-out, tenant chooser, password change) and its access rule
(tenants.dashboard.dashboard_view), with CSRF checks on as in production."""

import uuid

import pytest
from django.db import connection
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.test import Client
from django.urls import include, path

from conftest import PASSWORD
from tenants.dashboard import SESSION_TENANT, dashboard_view
from tenants.models import Membership, Role, User

NEW_PASSWORD = "a-much-longer-passphrase-2026"


@dashboard_view(role=Role.AUDITOR)
def probe(request):
    """What a page sees: its tenant, role, principal and the connection's schema."""
    principal = request.principal
    return JsonResponse(
        {
            "tenant": request.tenant.slug,
            "role": request.role,
            "principal": [principal.kind, principal.tenant.slug, principal.user.username, principal.role],
            "schema": connection.schema_name,
        }
    )


@dashboard_view(role=Role.USER)
def probe_template(request):
    """A lazily rendered page: it is rendered while the tenant's schema is still set."""
    return TemplateResponse(request, "dashboard/403.html", {"message": connection.schema_name})


urlpatterns = [
    path("probe", probe),
    path("probe/template", probe_template),
    path("", include("auditlog.urls")),
]


def csrf_client(host: str = "localhost") -> Client:
    return Client(enforce_csrf_checks=True, HTTP_HOST=host)


def csrf_token(client: Client, page: str = "/app/login") -> str:
    response = client.get(page)
    assert response.status_code == 200, response.status_code
    return response.context["csrf_token"]


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra):
    data = {"username": username, "password": password, "csrfmiddlewaretoken": csrf_token(client), **extra}
    return client.post("/app/login", data)


@pytest.fixture
def person(world):
    """A person in acme (Auditor) and globex (User)."""
    user = User.objects.create_user(username=f"two-{uuid.uuid4().hex[:8]}", email="two@x.test", password=PASSWORD)
    Membership.objects.create(user=user, tenant=world.acme.tenant, role=Role.AUDITOR)
    Membership.objects.create(user=user, tenant=world.globex.tenant, role=Role.USER)
    return user


# Sign-in


def test_sign_in_with_the_form_then_home_leads_to_the_logs(world):
    client = csrf_client()
    response = sign_in(client, "acme-user")
    assert response.status_code == 302 and response["Location"] == "/app/"
    assert client.get("/app/")["Location"] == "/app/logs"
    assert client.session[SESSION_TENANT] == "acme"  # the only membership: chosen at once


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(world):
    client = csrf_client()
    assert sign_in(client, "acme-user", next="/app/logs?severity=ERROR")["Location"] == "/app/logs?severity=ERROR"
    client = csrf_client()
    assert sign_in(client, "acme-user", next="https://evil.example/")["Location"] == "/app/"


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(world):
    client = csrf_client()
    response = sign_in(client, "acme-user", password="wrong-password")
    assert response.status_code == 400
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_sign_in_without_the_csrf_token_is_refused(world):
    client = csrf_client()
    client.get("/app/login")
    response = client.post("/app/login", {"username": "acme-user", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_sign_in_attempts_are_limited_like_the_apis(world, settings):
    settings.AUDITLOG = {**settings.AUDITLOG, "RATE_LOGIN_PER_MINUTE": 2}
    user = User.objects.create_user(username=f"limited-{uuid.uuid4().hex[:8]}", password=PASSWORD)
    Membership.objects.create(user=user, tenant=world.acme.tenant, role=Role.USER)
    client = csrf_client()
    assert sign_in(client, user.username, password="guess-1").status_code == 400
    assert sign_in(client, user.username, password="guess-2").status_code == 400
    response = sign_in(client, user.username)  # the right password, but one attempt too many
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert b"Too many sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_sign_in_is_refused_while_attempts_cannot_be_counted(world, settings):
    settings.AUDITLOG = {**settings.AUDITLOG, "RATE_REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens there
    client = csrf_client()
    response = sign_in(client, "acme-user")
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert b"Sign-in is briefly unavailable" in response.content
    assert "_auth_user_id" not in client.session


def test_on_a_tenants_subdomain_only_its_members_sign_in(world):
    client = csrf_client("acme.localhost")
    response = sign_in(client, "globex-admin")
    assert response.status_code == 400 and b"not a member of Acme" in response.content
    assert "_auth_user_id" not in client.session
    response = sign_in(client, "acme-auditor")
    assert response.status_code == 302
    assert client.session[SESSION_TENANT] == "acme"


def test_an_inactive_person_cannot_sign_in(world):
    user = User.objects.create_user(username=f"gone-{uuid.uuid4().hex[:8]}", password=PASSWORD, is_active=False)
    assert sign_in(csrf_client(), user.username).status_code == 400


# Sign-out


def test_sign_out_is_a_post_with_csrf(world):
    client = csrf_client()
    sign_in(client, "acme-user")
    assert client.get("/app/logout").status_code == 405
    assert client.post("/app/logout").status_code == 403  # no CSRF token
    assert "_auth_user_id" in client.session
    response = client.post("/app/logout", {"csrfmiddlewaretoken": csrf_token(client, "/app/tenants")})
    assert response.status_code == 302 and response["Location"] == "/app/login"
    assert "_auth_user_id" not in client.session
    assert client.get("/app/logs")["Location"].startswith("/app/login?next=")


# Tenant chooser


def test_a_person_in_two_tenants_chooses_one(person):
    client = csrf_client()
    sign_in(client, person.username)
    response = client.get("/app/logs")
    assert response.status_code == 302 and response["Location"] == "/app/tenants?next=%2Fapp%2Flogs"
    page = client.get(response["Location"])
    assert b'value="acme"' in page.content and b'value="globex"' in page.content
    token = page.context["csrf_token"]
    response = client.post("/app/tenants", {"tenant": "globex", "next": "/app/logs", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/app/logs"
    assert client.session[SESSION_TENANT] == "globex"
    assert client.get("/probe").status_code == 403  # a User in globex; probe needs an Auditor
    client.post("/app/tenants", {"tenant": "acme", "csrfmiddlewaretoken": token})
    assert client.get("/probe").json()["tenant"] == "acme"


def test_choosing_a_tenant_one_is_not_a_member_of_is_refused(person, world):
    client = csrf_client()
    sign_in(client, person.username)
    token = csrf_token(client, "/app/tenants")
    for slug in ("nowhere", "", "public"):
        response = client.post("/app/tenants", {"tenant": slug, "csrfmiddlewaretoken": token})
        assert response.status_code == 403, slug
    single = csrf_client()
    sign_in(single, "acme-user")
    response = single.post(
        "/app/tenants", {"tenant": "globex", "csrfmiddlewaretoken": csrf_token(single, "/app/tenants")}
    )
    assert response.status_code == 403
    assert single.session.get(SESSION_TENANT) != "globex"


def test_choosing_needs_the_csrf_token(person):
    client = csrf_client()
    sign_in(client, person.username)
    assert client.post("/app/tenants", {"tenant": "globex"}).status_code == 403
    assert SESSION_TENANT not in client.session


def test_the_chooser_ignores_an_off_site_next(person):
    client = csrf_client()
    sign_in(client, person.username)
    token = csrf_token(client, "/app/tenants")
    response = client.post("/app/tenants", {"tenant": "acme", "next": "//evil.example/x", "csrfmiddlewaretoken": token})
    assert response["Location"] == "/app/logs"


def test_staff_without_a_membership_are_pointed_to_the_django_admin(world):
    client = csrf_client()
    sign_in(client, "platform-staff")
    response = client.get("/app/logs")
    assert response["Location"].startswith("/app/tenants")
    page = client.get("/app/tenants")
    assert page.status_code == 200
    assert b'href="/admin/"' in page.content and b"not a member of any tenant" in page.content


# The access rule


def test_a_page_runs_in_its_tenants_schema_with_the_principal_of_the_api(world):
    client = csrf_client()
    sign_in(client, "acme-auditor")
    data = client.get("/probe").json()
    assert data == {
        "tenant": "acme",
        "role": "AUDITOR",
        "principal": ["user", "acme", "acme-auditor", "AUDITOR"],
        "schema": world.acme.tenant.schema_name,
    }
    assert connection.schema_name == "public"  # reset once the page has answered
    response = client.get("/probe/template")
    assert world.acme.tenant.schema_name.encode() in response.content


def test_the_subdomain_decides_the_tenant_over_the_session(person, world):
    client = csrf_client()
    sign_in(client, person.username)
    client.post("/app/tenants", {"tenant": "globex", "csrfmiddlewaretoken": csrf_token(client, "/app/tenants")})
    assert client.get("/probe").status_code == 403  # globex: a User
    assert client.get("/probe", HTTP_HOST="acme.localhost").json()["tenant"] == "acme"


def test_the_membership_is_read_again_on_every_request(world):
    user = User.objects.create_user(username=f"moving-{uuid.uuid4().hex[:8]}", password=PASSWORD)
    membership = Membership.objects.create(user=user, tenant=world.acme.tenant, role=Role.USER)
    client = csrf_client()
    sign_in(client, user.username)
    assert client.get("/probe").status_code == 403
    membership.role = Role.AUDITOR
    membership.save()
    assert client.get("/probe").json()["role"] == "AUDITOR"
    membership.delete()
    response = client.get("/probe")
    assert response.status_code == 302 and response["Location"].startswith("/app/tenants")
    assert SESSION_TENANT not in client.session


def test_an_htmx_request_of_a_signed_out_visitor_is_sent_to_the_login_page_whole(db):
    response = Client().get("/app/logs", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/app/login?next=%2Fapp%2Flogs"


def test_the_403_page_is_the_dashboards(world):
    client = csrf_client()
    sign_in(client, "acme-user")
    response = client.get("/probe")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b"needs the Auditor role in Acme" in response.content
    assert b'aria-label="Main"' in response.content  # in the dashboard's layout, with its navigation


@pytest.fixture(autouse=True)
def _probe_urls(settings):
    settings.ROOT_URLCONF = __name__


# Password change


@pytest.fixture
def changer(world, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    user = User.objects.create_user(username=f"changer-{uuid.uuid4().hex[:8]}", password=PASSWORD)
    Membership.objects.create(user=user, tenant=world.acme.tenant, role=Role.USER)
    return user


def change(client: Client, old: str, new1: str, new2: str | None = None, token: str | None = None):
    token = token or csrf_token(client, "/app/account/password")
    data = {"old_password": old, "new_password1": new1, "new_password2": new2 or new1, "csrfmiddlewaretoken": token}
    return client.post("/app/account/password", data)


def test_a_password_change_keeps_this_session_and_ends_the_others(changer):
    client, other = csrf_client(), csrf_client()
    sign_in(client, changer.username)
    sign_in(other, changer.username)
    response = change(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/app/account/password"
    changer.refresh_from_db()
    assert changer.password.startswith("argon2")
    assert changer.check_password(NEW_PASSWORD)
    page = client.get("/app/account/password")
    assert page.status_code == 200 and b"Your password was changed" in page.content
    assert other.get("/app/logs")["Location"].startswith("/app/login")


@pytest.mark.parametrize(
    "old, new1, new2, message",
    [
        ("wrong-old-password", NEW_PASSWORD, None, b"Your old password was entered incorrectly"),
        (PASSWORD, "short", None, b"This password is too short"),
        (PASSWORD, "password1234", None, b"This password is too common"),
        (PASSWORD, "123456789012345", None, b"This password is entirely numeric"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", b"The two password fields"),
    ],
)
def test_a_bad_password_change_says_why_and_changes_nothing(changer, old, new1, new2, message):
    client = csrf_client()
    sign_in(client, changer.username)
    response = change(client, old, new1, new2)
    assert response.status_code == 400
    assert message in response.content
    changer.refresh_from_db()
    assert changer.check_password(PASSWORD)


def test_a_password_change_needs_the_csrf_token_and_a_session(changer):
    client = csrf_client()
    sign_in(client, changer.username)
    response = client.post(
        "/app/account/password",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 403
    changer.refresh_from_db()
    assert changer.check_password(PASSWORD)
    assert Client().get("/app/account/password")["Location"].startswith("/app/login?next=")


def test_a_fields_errors_are_named_by_its_aria_describedby(changer):
    """Django links an input to `<id>_error` when it has errors; the dashboard's field template must give its
    error list that id, or screen readers announce nothing."""
    import re

    client = csrf_client()
    sign_in(client, changer.username)
    html = change(client, PASSWORD, "short").content.decode()
    described = {ref for refs in re.findall(r'aria-describedby="([^"]+)"', html) for ref in refs.split()}
    assert "id_new_password2_error" in described or "id_new_password1_error" in described
    for ref in described:
        assert f'id="{ref}"' in html, ref
