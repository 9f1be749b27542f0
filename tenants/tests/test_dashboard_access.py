"""Every dashboard route, every kind of person: walked from the URLconf, so a page added later is checked too.

Each route's view must say who may see it: `dashboard_role` (set by tenants.dashboard.dashboard_view),
`dashboard_signin_only` (signed in, no tenant needed: chooser, password, sign-out) or `dashboard_public`
(the login page). Then, for a page with a role: anonymous -> the login page; a member below the role -> 403;
a member at or above it -> neither refused nor an error; another tenant's Admin on acme's subdomain -> 403;
platform staff who are no member -> the tenant chooser, never the page. Nobody without the right gets a POST
through either.
"""

import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.dashboard import DASHBOARD_NAMESPACES, SESSION_TENANT
from tenants.models import ROLE_RANK, Role

ROLES = sorted(ROLE_RANK, key=ROLE_RANK.get)  # User, Auditor, Admin
# A value for each path converter: the object does not exist, which is fine (404 is neither refused nor an error).
PLACEHOLDERS = {"int": "987654", "uuid": str(uuid.UUID(int=1)), "slug": "nowhere", "str": "nowhere", "path": "nowhere"}


def dashboard_routes() -> list[tuple[str, str, URLPattern]]:
    """(namespace:name, path, pattern) of every dashboard URL pattern, with placeholders in the path."""
    found = []

    def walk(patterns, prefix: str, namespace: str | None):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif namespace in DASHBOARD_NAMESPACES:
                path = prefix + str(p.pattern)
                for name, converter in p.pattern.converters.items():
                    kind = type(converter).__name__.replace("Converter", "").lower()
                    path = path.replace(f"<{kind}:{name}>", PLACEHOLDERS.get(kind, "1")).replace(f"<{name}>", "x")
                found.append((f"{namespace}:{p.name}", "/" + path, p))

    walk(get_resolver().url_patterns, "", None)
    return found


ROUTES = dashboard_routes()
ROLE_ROUTES = [
    (name, path, p.callback.dashboard_role) for name, path, p in ROUTES if hasattr(p.callback, "dashboard_role")
]
SIGNIN_ROUTES = [(name, path) for name, path, p in ROUTES if getattr(p.callback, "dashboard_signin_only", False)]
PUBLIC_ROUTES = [(name, path) for name, path, p in ROUTES if getattr(p.callback, "dashboard_public", False)]


def signed_in(user, tenant: str | None = None) -> Client:
    client = Client()
    client.force_login(user)
    if tenant is not None:
        session = client.session
        session[SESSION_TENANT] = tenant
        session.save()
    return client


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/app/login?next=")


def test_every_dashboard_route_says_who_may_see_it():
    assert len(ROUTES) >= 5, "the dashboard's namespaces were not found in the URLconf"
    unmarked = [
        name
        for name, _path, p in ROUTES
        if sum(
            (
                hasattr(p.callback, "dashboard_role"),
                getattr(p.callback, "dashboard_signin_only", False),
                getattr(p.callback, "dashboard_public", False),
            )
        )
        != 1
    ]
    assert not unmarked, f"dashboard routes without exactly one of dashboard_role/_signin_only/_public: {unmarked}"
    assert {role for _n, _p, role in ROLE_ROUTES} <= set(ROLES)


@pytest.mark.parametrize("name, path, role", ROLE_ROUTES, ids=[r[0] for r in ROLE_ROUTES])
def test_a_page_is_shown_to_its_role_and_above_only(world, name, path, role):
    anonymous = Client()
    response = anonymous.get(path)
    assert is_login_redirect(response) or response.status_code == 405, (name, response.status_code)
    response = anonymous.post(path)
    assert is_login_redirect(response) or response.status_code == 405, (name, response.status_code)

    for member_role in ROLES:
        client = signed_in(world.acme.users[member_role], "acme")
        response = client.get(path)
        if ROLE_RANK[member_role] < ROLE_RANK[role]:
            assert response.status_code == 403, (name, member_role, response.status_code)
            assert b"Not allowed" in response.content  # the dashboard's page, not the API's JSON
            assert client.post(path).status_code in (403, 405), (name, member_role)
        else:
            assert response.status_code not in (401, 403, 500), (name, member_role, response.status_code)
            assert not is_login_redirect(response), (name, member_role)


@pytest.mark.parametrize("name, path, role", ROLE_ROUTES, ids=[r[0] for r in ROLE_ROUTES])
def test_another_tenants_admin_is_refused_on_the_tenants_subdomain(world, name, path, role):
    client = signed_in(world.globex.users[Role.ADMIN], "globex")
    assert client.get(path, HTTP_HOST="acme.localhost").status_code in (403, 405), name
    assert client.post(path, HTTP_HOST="acme.localhost").status_code in (403, 405), name


@pytest.mark.parametrize("name, path, role", ROLE_ROUTES, ids=[r[0] for r in ROLE_ROUTES])
def test_platform_staff_who_are_no_member_see_no_tenant_page(world, name, path, role):
    client = signed_in(world.staff)
    for response in (client.get(path), client.post(path)):
        assert response.status_code in (302, 405), (name, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith("/app/tenants?next="), name


@pytest.mark.parametrize("name, path", SIGNIN_ROUTES, ids=[r[0] for r in SIGNIN_ROUTES])
def test_account_pages_ask_anonymous_visitors_to_sign_in(db, name, path):
    anonymous = Client()
    for response in (anonymous.get(path), anonymous.post(path)):
        assert is_login_redirect(response) or response.status_code == 405, (name, response.status_code)


@pytest.mark.parametrize("name, path", PUBLIC_ROUTES, ids=[r[0] for r in PUBLIC_ROUTES])
def test_public_pages_answer_anyone(db, name, path):
    assert Client().get(path).status_code in (200, 302, 405), name
