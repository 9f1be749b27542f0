"""WebSocket tenancy: the credential of a connection decides its tenant, as for HTTP.

TenantAuthMiddleware runs HTTP's authentication (tenants.authentication, with its host check)
on the handshake, the credential coming from the `Authorization` header or `?token=`; it puts
scope["principal"] and scope["tenant"] (None without a credential) or scope["auth_refusal"].
A consumer then calls ws_refusal(scope, route_name), which applies tenants.access.MATRIX through
HTTP's AccessPolicy, and, when refused, accepts and closes at once with 4401 (no valid credential)
or 4403 (no right), before any data. A handshake counts as a read against the rate limits of its tenant
and credential (tenants.ratelimit); over them it is closed with 4429 and the seconds to wait as reason.
in_tenant() runs a consumer's ORM code in the tenant's schema.
"""

from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.db import connection
from rest_framework.exceptions import APIException

from .authentication import ApiKeyAuthentication, TenantJWTAuthentication
from .middleware import TenantContextMiddleware
from .permissions import AccessPolicy
from .principal import Principal
from .ratelimit import READ, limits_hit, principal_limits


def _in_thread(fn):
    """fn as a self-contained database call in a worker thread: it starts in the public schema, and its
    connection is closed after it (back to the pool), whatever schema it used; so calls of different
    WebSocket connections may run in parallel threads. The close is explicit rather than left to
    close_old_connections, which Channels' test communicator turns off."""

    def call(*args, **kwargs):
        connection.set_schema_to_public()
        try:
            return fn(*args, **kwargs)
        finally:
            connection.set_schema_to_public()
            connection.close()

    return database_sync_to_async(call, thread_sensitive=False)


@dataclass(frozen=True)
class Refusal:
    code: int  # 4000 + the HTTP status the same request would get: 4401, 4403 or 4429
    reason: str


def _refusal(exc: APIException) -> Refusal:
    code = 4401 if exc.status_code == 401 else 4403
    return Refusal(code, str(exc.detail).encode()[:123].decode(errors="ignore"))  # a close reason's limit


class _Handshake:
    """The handshake as the HTTP request that tenants' authentication and AccessPolicy read."""

    method = "GET"

    def __init__(self, meta: dict, principal: Principal | None = None, url_name: str | None = None):
        self.META = meta
        self._request = self  # DRF's Request wraps a Django request; authentication reads through it
        self.auth = principal
        self.resolver_match = SimpleNamespace(url_name=url_name)
        self.host_tenant = None


_HOSTS = TenantContextMiddleware(get_response=None)
_AUTHENTICATORS = (ApiKeyAuthentication(), TenantJWTAuthentication())


def _meta(scope) -> dict:
    """Request headers as Django's META; `?token=` stands for `Authorization: Bearer` when no header is sent."""
    meta = {
        "HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }
    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    if tokens and "HTTP_AUTHORIZATION" not in meta and "HTTP_X_API_KEY" not in meta:
        meta["HTTP_AUTHORIZATION"] = f"Bearer {tokens[-1]}"
    return meta


def _authenticate(meta: dict) -> Principal | None:
    """HTTP's authenticators in order; raises their APIException for a bad credential."""
    request = _Handshake(meta)
    request.host_tenant = _HOSTS._host_tenant(request)
    for authenticator in _AUTHENTICATORS:
        result = authenticator.authenticate(request)
        if result is not None:
            return result[1]
    return None


def _rate_refusal(principal: Principal) -> Refusal | None:
    """Counted in the handshake's database thread (reading the tenant's limits may need a query), for any valid
    credential since the route is not known yet; ws_refusal reports it only once the route's permission holds.
    Redis unreachable: the connection passes, as HTTP reads do."""
    decision = limits_hit(principal_limits(principal, READ))
    if decision is None or decision.allowed:
        return None
    return Refusal(4429, f"Too many requests; retry in {decision.retry_after} s.")


def _handshake(meta: dict) -> tuple[Principal | None, Refusal | None]:
    principal = _authenticate(meta)
    return principal, principal and _rate_refusal(principal)


class TenantAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = dict(scope, principal=None, tenant=None)
            try:
                principal, rate_refusal = await _in_thread(_handshake)(_meta(scope))
            except APIException as exc:
                scope["auth_refusal"] = _refusal(exc)
            else:
                scope.update(principal=principal, tenant=principal and principal.tenant, rate_refusal=rate_refusal)
        return await self.inner(scope, receive, send)


def ws_refusal(scope, url_name: str) -> Refusal | None:
    """Why this connection may not use the route (as HTTP GET would be refused), or None."""
    if "auth_refusal" in scope:
        return scope["auth_refusal"]
    try:
        AccessPolicy().has_permission(_Handshake({}, scope.get("principal"), url_name), view=None)
    except APIException as exc:
        return _refusal(exc)
    return scope.get("rate_refusal")


def _call_in_schema(tenant, fn, args, kwargs):
    connection.set_tenant(tenant)
    return fn(*args, **kwargs)


async def in_tenant(tenant, fn, /, *args, **kwargs):
    """fn(*args, **kwargs) in a database thread, in the tenant's schema."""
    return await _in_thread(_call_in_schema)(tenant, fn, args, kwargs)
