"""Every route, every kind of caller: the permission matrix as SPEC states it, checked end to end.

EXPECTED below is written from SPEC's tables, independently of tenants/access.py: the test walks
every URL pattern of the URLconf and every WebSocket route, so a route (or a method of one) added
without an entry here and in tenants.access.MATRIX fails. Callers: anonymous; acme's ingest, read and
export keys; acme's User, Auditor and Admin; platform staff who is not a member; globex's Admin and
keys; an expired token; a revoked key. Refusals must be 401 (no valid credential) or 403 (valid,
without the right); an allowed call may still fail on its input (400, 404), never on who made it.
"""

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework_simplejwt.tokens import AccessToken

from search.routing import websocket_urlpatterns
from search.tests.stream_support import close_code, next_message, opened, tail
from tenants.access import MATRIX
from tenants.dashboard import DASHBOARD_NAMESPACES
from tenants.models import ApiKey, Membership, Role

ANONYMOUS, EXPIRED, REVOKED = "anonymous", "expired token", "revoked key"
CALLERS = {
    ANONYMOUS: lambda w: None,
    "acme ingest key": lambda w: w.acme.keys["ingest"],
    "acme read key": lambda w: w.acme.keys["read"],
    "acme export key": lambda w: w.acme.keys["export"],
    "acme User": lambda w: w.acme.tokens[Role.USER],
    "acme Auditor": lambda w: w.acme.tokens[Role.AUDITOR],
    "acme Admin": lambda w: w.acme.tokens[Role.ADMIN],
    "staff, not a member": lambda w: w.staff_token,
    "globex Admin": lambda w: w.globex.tokens[Role.ADMIN],
    "globex ingest key": lambda w: w.globex.keys["ingest"],
    "globex read key": lambda w: w.globex.keys["read"],
    "globex export key": lambda w: w.globex.keys["export"],
    EXPIRED: lambda w: expired_admin_token(w),
    REVOKED: lambda w: w.acme.keys["revoked"],
}
UNAUTHENTICATED = {ANONYMOUS, EXPIRED, REVOKED}

# Who may call what (SPEC, "API (v1)"); a tenant's callers act on their own tenant.
EVERYONE = set(CALLERS)
STAFF = {"staff, not a member"}
ADMINS = {"acme Admin", "globex Admin"}
AUDITORS = ADMINS | {"acme Auditor"}
READERS = AUDITORS | {"acme User", "acme read key", "globex read key"}
INGESTERS = ADMINS | {"acme ingest key", "globex ingest key"}
EXPORTERS = AUDITORS | {"acme export key", "globex export key"}

EXPECTED: dict[str, dict[str, set[str]]] = {
    "auth-token": {"POST": EVERYONE},
    "auth-token-refresh": {"POST": EVERYONE},
    "tenant-list": {"GET": STAFF, "POST": STAFF},
    "tenant-detail": {"DELETE": STAFF},
    "apikey-list": {"GET": ADMINS, "POST": ADMINS},
    "apikey-detail": {"GET": ADMINS, "DELETE": ADMINS},
    "member-list": {"GET": ADMINS, "POST": ADMINS},
    "member-detail": {"GET": ADMINS, "PATCH": ADMINS, "DELETE": ADMINS},
    "settings": {"GET": AUDITORS, "PATCH": ADMINS},
    "log-list": {"GET": READERS, "POST": INGESTERS},
    "log-bulk": {"POST": INGESTERS},
    "log-detail": {"GET": READERS},
    "log-export": {"GET": EXPORTERS},
    "export-list": {"GET": EXPORTERS, "POST": EXPORTERS},
    "export-detail": {"GET": EXPORTERS},
    "export-download": {"GET": EVERYONE},  # the signed link is the credential; without its token: 400
    "log-stats": {"GET": READERS},
    "log-related": {"GET": READERS},
    "log-verify": {"GET": AUDITORS},
    "alert-list": {"GET": ADMINS, "POST": ADMINS},
    "alert-detail": {"GET": ADMINS, "PATCH": ADMINS, "DELETE": ADMINS},
    "alert-history": {"GET": ADMINS},
    "log-stream": {"GET": READERS},  # WebSocket: the handshake is a GET
}
# Routes outside the API's matrix, and what an anonymous GET gets there.
PUBLIC = {"home": 200, "healthz": 200, "readyz": 200, "schema": 200, "docs": 200}
ADMIN_SITE_NAMESPACE = "admin"  # Django admin: its own staff login (checked below)

METHODS = ("get", "post", "put", "patch", "delete")
# Path arguments naming nothing that exists (allowed callers get a 404, never someone else's object).
NOWHERE = {"pk": 999_999_999, "event_id": "00000000-0000-7000-8000-000000000000"}


def expired_admin_token(w) -> str:
    token = AccessToken()
    token["user_id"] = w.acme.users[Role.ADMIN].pk
    token["tenant"] = "acme"
    token["role"] = Role.ADMIN
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def http_routes() -> list[tuple[str, str | None, URLPattern]]:
    """(namespace, name, pattern) of every URL pattern, resolvers walked; the dashboard's pages (session sign-in,
    checked by test_dashboard_access.py) left out."""
    found = []

    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace not in DASHBOARD_NAMESPACES:
                    walk(p.url_patterns, p.namespace or namespace)
            else:
                found.append((namespace, p.name, p))

    walk(get_resolver().url_patterns, None)
    return found


def api_routes() -> dict[str, URLPattern]:
    return {name: p for ns, name, p in http_routes() if ns is None and name not in PUBLIC}


def test_every_route_is_in_the_matrix_and_in_this_table():
    routes = http_routes()
    unnamed = [str(p.pattern) for ns, name, p in routes if ns != ADMIN_SITE_NAMESPACE and not name]
    assert not unnamed, f"routes without a name (the matrix is keyed by name): {unnamed}"
    api = api_routes()
    ws = {r.name for r in websocket_urlpatterns}
    assert set(api) | ws <= set(EXPECTED), f"routes missing from EXPECTED: {sorted((set(api) | ws) - set(EXPECTED))}"
    assert set(api) | ws <= set(MATRIX), f"routes missing from MATRIX: {sorted((set(api) | ws) - set(MATRIX))}"
    for name in set(api) | ws:
        assert set(MATRIX[name]) == set(EXPECTED[name]), f"{name}: MATRIX allows {set(MATRIX[name])}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_view_implements_exactly_the_methods_in_the_table(name):
    pattern = api_routes().get(name)
    if pattern is None:
        assert name in {r.name for r in websocket_urlpatterns}, f"no route {name}"
        return
    view = pattern.callback.cls
    implemented = {m.upper() for m in METHODS if hasattr(view, m)}
    assert implemented == set(EXPECTED[name]), f"{name} implements {implemented}"


def _cases() -> list:
    """Every HTTP route and method of the table, by every caller (the WebSocket route has its own test)."""
    return [
        pytest.param(name, method, caller, id=f"{method} {name} by {caller}")
        for name, methods in sorted(EXPECTED.items())
        if name != "log-stream"
        for method in sorted(methods)
        for caller in CALLERS
    ]


def _request(api, world, name: str, method: str, caller: str):
    pattern = api_routes()[name]
    kwargs = {arg: NOWHERE[arg] for arg in pattern.pattern.converters}
    url = reverse(name, kwargs=kwargs)
    client = api(CALLERS[caller](world))
    if method in ("POST", "PATCH"):  # an empty body: refused by validation, never stored
        return getattr(client, method.lower())(url, {}, format="json")
    return getattr(client, method.lower())(url)


@pytest.mark.parametrize("name, method, caller", _cases())
def test_who_may_call_what(world, api, name, method, caller):
    response = _request(api, world, name, method, caller)
    assert response.status_code < 500, response.content[:300]
    allowed = EXPECTED[name][method]
    if allowed is EVERYONE:
        assert response.status_code == 400, response.content[:300]  # anonymous routes: the empty body is bad
    elif caller in UNAUTHENTICATED:
        assert response.status_code == 401, response.content[:300]
    elif caller in allowed:
        assert response.status_code not in (401, 403), response.content[:300]
    else:
        assert response.status_code == 403, response.content[:300]
    streamed = name == "log-export" and response.status_code == 200  # the export's default format is NDJSON
    assert response["Content-Type"].startswith("application/json") or response.status_code == 204 or streamed


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_routes_answer_anyone(db, client, name):
    assert client.get(reverse(name)).status_code == PUBLIC[name]


def test_the_admin_site_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_another_tenants_admin_and_keys_find_none_of_acmes_objects(world, api):
    """Real acme objects, through every detail route: another tenant's callers get 404 and change nothing."""
    key = ApiKey.objects.filter(tenant=world.acme.tenant, revoked_at__isnull=True).first()
    member = Membership.objects.get(tenant=world.acme.tenant, user=world.acme.users[Role.USER])
    acme_ingest = api(world.acme.keys["ingest"])
    event_id = acme_ingest.post("/api/v1/logs", {"actor": {"id": "a"}, "action": "X", "resource": {"type": "t"}},
                                format="json").json()["id"]  # fmt: skip
    globex_admin = api(world.globex.tokens[Role.ADMIN])
    for method, url in [
        ("get", f"/api/v1/api-keys/{key.pk}"),
        ("delete", f"/api/v1/api-keys/{key.pk}"),
        ("get", f"/api/v1/members/{member.pk}"),
        ("patch", f"/api/v1/members/{member.pk}"),
        ("delete", f"/api/v1/members/{member.pk}"),
        ("get", f"/api/v1/logs/{event_id}"),
    ]:
        response = getattr(globex_admin, method)(
            url, {"role": Role.ADMIN} if method == "patch" else None, format="json"
        )
        assert response.status_code == 404, (method, url, response.content[:200])
    assert api(world.globex.keys["read"]).get(f"/api/v1/logs/{event_id}").status_code == 404
    key.refresh_from_db()
    member.refresh_from_db()
    assert key.revoked_at is None and member.role == Role.USER
    assert api(world.acme.keys["read"]).get(f"/api/v1/logs/{event_id}").status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("route", [r.name for r in websocket_urlpatterns])
@pytest.mark.parametrize("caller", list(CALLERS))
async def test_who_may_open_each_websocket_route(committed_world, settings, route, caller):
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_HEARTBEAT_SECONDS": 0.05}
    credential = CALLERS[caller](committed_world)
    comm = await opened(tail(token=credential) if credential else tail())
    if caller in UNAUTHENTICATED:
        assert await close_code(comm) == 4401
    elif caller in EXPECTED[route]["GET"]:
        assert await next_message(comm) == {"type": "heartbeat"}
    else:
        assert await close_code(comm) == 4403
    await comm.disconnect()
