"""Reads of the public schema: credentials, memberships, tenants by host."""

import hashlib
import hmac
import time

import orjson
from django.db import connection
from django.utils import timezone

from auditlog.conf import auditlog_setting

from .models import ApiKey, Domain, Membership, Tenant, TenantSettings
from .policies import Policy

API_KEY_PREFIX = "alk_"


def api_key_split(raw: str) -> tuple[str, str] | None:
    """'alk_<prefix>_<secret>' -> (prefix, raw) or None when it is not shaped like a key."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    parts = raw[len(API_KEY_PREFIX) :].split("_", 1)
    if len(parts) != 2 or not parts[0] or not parts[1] or len(parts[0]) > 16:
        return None
    return parts[0], raw


def secret_digest(raw: str) -> str:
    # Keys carry 190+ bits of randomness, so a fast hash is enough (no stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()


# Hand-written: this runs on every ingest request, and the ORM's query compilation
# costs more than the query itself.
_KEY_SQL = (
    "SELECT k.id, k.name, k.prefix, k.secret_hash, k.scopes::text, k.created_at, k.expires_at, k.revoked_at, "
    "k.last_used_at, t.id, t.schema_name, t.slug, t.name, t.created_at "
    "FROM public.tenants_apikey k JOIN public.tenants_tenant t ON t.id = k.tenant_id WHERE k.prefix = %s"
)


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    # On the driver's connection: the tables are schema-qualified, so the statement
    # needs no search_path, and django-tenants' SET before it would be a wasted round trip.
    connection.ensure_connection()
    row = connection.connection.execute(_KEY_SQL, [prefix]).fetchone()
    if row is None:
        return None
    tenant = Tenant(id=row[9], schema_name=row[10], slug=row[11], name=row[12], created_at=row[13])
    key = ApiKey(
        id=row[0],
        name=row[1],
        prefix=row[2],
        secret_hash=row[3],
        scopes=orjson.loads(row[4]),
        created_at=row[5],
        expires_at=row[6],
        revoked_at=row[7],
        last_used_at=row[8],
        tenant=tenant,
    )
    for obj in (tenant, key):
        obj._state.adding, obj._state.db = False, "default"
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key matching the raw secret, with its tenant, or None."""
    split = api_key_split(raw)
    if split is None:
        return None
    prefix, _ = split
    key = _api_key_by_prefix(prefix)
    if key is None or not hmac.compare_digest(key.secret_hash, secret_digest(raw)):
        return None
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= timezone.now()):
        return None
    return key


def membership_get(*, user_id, tenant_slug: str) -> Membership | None:
    return (
        Membership.objects.select_related("user", "tenant")
        .filter(user_id=user_id, tenant__slug=tenant_slug, user__is_active=True)
        .first()
    )


def memberships_of(user) -> list[Membership]:
    return list(Membership.objects.select_related("tenant").filter(user=user).order_by("tenant__slug"))


def tenant_list():
    return Tenant.objects.exclude(schema_name="public").order_by("slug")


def tenant_get_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


_HOST_CACHE: dict[str, tuple[float, Tenant | None]] = {}
_HOST_TTL = 30.0


def tenant_for_host(host: str) -> Tenant | None:
    """The tenant whose domain is this host (tenant subdomains), cached briefly in process."""
    hostname = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
    now = time.monotonic()
    cached = _HOST_CACHE.get(hostname)
    if cached and cached[0] > now:
        return cached[1]
    domain = Domain.objects.filter(domain=hostname).select_related("tenant").first()
    tenant = domain.tenant if domain and domain.tenant.schema_name != "public" else None
    _HOST_CACHE[hostname] = (now + _HOST_TTL, tenant)
    return tenant


def host_cache_clear():
    _HOST_CACHE.clear()


_POLICIES: dict[int, tuple[float, Policy]] = {}


def tenant_policy(tenant: Tenant) -> Policy:
    """The tenant's effective policy, cached per process for POLICY_CACHE_SECONDS (ingest reads it per request)."""
    now = time.monotonic()
    hit = _POLICIES.get(tenant.pk)
    if hit is not None and now - hit[0] < auditlog_setting("POLICY_CACHE_SECONDS"):
        return hit[1]
    policy = Policy.of(TenantSettings.objects.filter(tenant_id=tenant.pk).first())
    _POLICIES[tenant.pk] = (now, policy)
    return policy


def tenant_policy_cache_clear(tenant: Tenant | None = None) -> None:
    if tenant is None:
        _POLICIES.clear()
    else:
        _POLICIES.pop(tenant.pk, None)
