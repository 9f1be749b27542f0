"""Reads of the public schema: credentials, memberships, tenants by host."""

import hashlib
import hmac
import time

from django.utils import timezone

from .models import ApiKey, Domain, Membership, Tenant

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


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key matching the raw secret, with its tenant, or None."""
    split = api_key_split(raw)
    if split is None:
        return None
    prefix, _ = split
    key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
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
