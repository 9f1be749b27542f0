"""Writes of the public schema: tenants, members, API keys, tokens."""

import logging
import re
import secrets
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from auditlog.errors import CONFLICT, ApiError, FieldErrors

from . import policies
from .keys import data_keys_forget, tenant_key_create
from .models import ApiKey, Domain, Membership, Role, Scope, Tenant, TenantKey, TenantSettings, User
from .selectors import API_KEY_PREFIX, host_cache_clear, secret_digest, tenant_policy_cache_clear

logger = logging.getLogger(__name__)
SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,46}[a-z0-9]$")
RESERVED_SLUGS = {"public", "www", "api", "admin", "static", "app", "auth", "docs"}


def schema_name_for(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


def _password_errors(password: str, user: User | None = None) -> list[str]:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def _new_user_errors(*, username: str, email: str, password: str, prefix: str = "") -> dict:
    """Field errors of a new user's details (checked before any conflict, so a bad request is always a 400)."""
    password_errors = _password_errors(password, User(username=username, email=email))
    return {f"{prefix}password": password_errors} if password_errors else {}


def _check_username_free(username: str) -> None:
    if User.objects.filter(username__iexact=username).exists():
        raise ApiError(code=CONFLICT, status_code=409, message=f"The username '{username}' is taken.")


def tenant_create(*, slug: str, name: str, admin: dict) -> Tenant:
    """Create a tenant's schema (migrated), its subdomain, its first Admin and its first data key (made here
    rather than by its first event, so ingest never races to make it; tenants older than encryption get
    theirs on first need)."""
    errors: dict[str, list[str]] = {}
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        errors["slug"] = [
            "Use 3-48 lower-case letters, digits and dashes, starting with a letter; not a reserved word."
        ]
    errors.update(
        _new_user_errors(username=admin["username"], email=admin["email"], password=admin["password"], prefix="admin.")
    )
    if errors:
        raise FieldErrors(errors)
    if Tenant.objects.filter(slug=slug).exists():
        raise ApiError(code=CONFLICT, status_code=409, message=f"A tenant with slug '{slug}' exists.")
    _check_username_free(admin["username"])

    tenant = Tenant(schema_name=schema_name_for(slug), slug=slug, name=name)
    tenant.save(verbosity=0)  # creates and migrates the schema (outside any transaction: DDL of many migrations)
    connection.set_schema_to_public()
    try:
        with transaction.atomic():
            Domain.objects.create(domain=f"{slug}.{settings.TENANT_BASE_DOMAIN}", tenant=tenant, is_primary=True)
            user = User.objects.create_user(
                username=admin["username"], email=admin["email"], password=admin["password"]
            )
            Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
            tenant_key_create(tenant)
    except Exception:
        tenant.delete(force_drop=True)
        raise
    host_cache_clear()
    return tenant


TenantDeletedHook = Callable[[str], None]
_DELETED_HOOKS: dict[str, TenantDeletedHook] = {}


def tenant_deleted_hook_register(name: str, hook: TenantDeletedHook) -> None:
    """Apps that keep a tenant's data outside its schema (the search mirror) register how to remove it;
    hooks get the schema name once the tenant is gone (in their AppConfig.ready: tenants imports no app)."""
    _DELETED_HOOKS[name] = hook


def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant for good: its data keys first (crypto-shredding: encrypted content of its events that
    survives anywhere, in backups, replicas or the search mirror, can never be read again), then its schema
    with every event, its domains, members, API keys and settings. People left without any tenant are
    deactivated, as when removed from their last one."""
    with transaction.atomic():
        TenantKey.objects.filter(tenant=tenant).delete()
    data_keys_forget(tenant.pk)
    members = list(Membership.objects.filter(tenant=tenant).values_list("user_id", flat=True))
    connection.set_schema_to_public()
    tenant.delete(force_drop=True)  # auto_drop_schema: drops the tenant's schema
    User.objects.filter(pk__in=members, is_staff=False, memberships=None).update(is_active=False)
    host_cache_clear()
    tenant_policy_cache_clear(tenant)
    for name, hook in _DELETED_HOOKS.items():
        try:
            hook(tenant.schema_name)
        except Exception:  # the tenant is gone either way; what a hook left behind is logged for the operator
            logger.exception("tenant %s deleted, but %s could not remove its data", tenant.schema_name, name)


@transaction.atomic
def member_create(*, tenant: Tenant, username: str, email: str, password: str, role: str) -> Membership:
    errors = _new_user_errors(username=username, email=email, password=password)
    if errors:
        raise FieldErrors(errors)
    _check_username_free(username)
    user = User.objects.create_user(username=username, email=email, password=password)
    return Membership.objects.create(user=user, tenant=tenant, role=role)


def _other_admins(membership: Membership) -> bool:
    """Whether the tenant keeps another active Admin. Call inside a transaction: the tenant row is locked,
    so two concurrent demotions or removals of its last two Admins cannot both pass this check."""
    Tenant.objects.select_for_update().filter(pk=membership.tenant_id).first()
    return (
        Membership.objects.filter(tenant=membership.tenant, role=Role.ADMIN, user__is_active=True)
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def member_update(*, membership: Membership, role: str | None = None, email: str | None = None) -> Membership:
    if role is not None and role != membership.role:
        if membership.role == Role.ADMIN and not _other_admins(membership):
            raise FieldErrors({"role": ["The tenant's last Admin cannot be demoted."]})
        membership.role = role
        membership.save(update_fields=["role"])
    if email is not None and email != membership.user.email:
        # The person is global: one tenant's Admin must not edit someone who also belongs elsewhere.
        if membership.user.memberships.exclude(pk=membership.pk).exists():
            raise FieldErrors({"email": ["This person also belongs to other tenants; only they can change it."]})
        membership.user.email = email
        membership.user.save(update_fields=["email"])
    return membership


@transaction.atomic
def member_delete(*, membership: Membership) -> None:
    if membership.role == Role.ADMIN and not _other_admins(membership):
        raise FieldErrors({"id": ["The tenant's last Admin cannot be removed."]})
    user = membership.user
    membership.delete()
    if not user.memberships.exists() and not user.is_staff:
        user.is_active = False
        user.save(update_fields=["is_active"])


def api_key_create(
    *, tenant: Tenant, name: str, scopes: list[str], created_by: User | None = None, expires_at=None
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its secret, which is never stored or shown again."""
    invalid = [s for s in scopes if s not in Scope.values]
    if not scopes or invalid:
        raise FieldErrors({"scopes": [f"Choose one or more of {', '.join(Scope.values)}."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise FieldErrors({"expires_at": ["Must be in the future."]})
    prefix = secrets.token_hex(6)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=prefix,
        secret_hash=secret_digest(raw),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        expires_at=expires_at,
    )
    return key, raw


LAST_USED_RESOLUTION_SECONDS = 60


def api_key_touch(*, key: ApiKey) -> None:
    """Record use of a key, at most once a minute (not a write per request)."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def tokens_issue(*, user: User, membership: Membership | None) -> dict:
    """A refresh/access pair bound to one tenant (or to none, for platform staff)."""
    refresh = RefreshToken.for_user(user)
    if membership is not None:
        refresh["tenant"] = membership.tenant.slug
        refresh["role"] = membership.role
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def token_refresh(*, raw_refresh: str) -> dict:
    """A new access token, re-checking that the user and membership still hold (the role may have changed)."""
    from rest_framework_simplejwt.exceptions import TokenError

    from .selectors import membership_get

    try:
        refresh = RefreshToken(raw_refresh)
    except TokenError:
        return {}
    tenant_slug = refresh.get("tenant")
    if tenant_slug:
        membership = membership_get(user_id=refresh.get("user_id"), tenant_slug=tenant_slug)
        if membership is None:
            return {}
        refresh["role"] = membership.role
    elif not User.objects.filter(pk=refresh.get("user_id"), is_active=True, is_staff=True).exists():
        return {}
    return {"access": str(refresh.access_token)}


SETTINGS_FIELDS = {
    "retention_days": policies.retention_clean,
    "masking": policies.masking_clean,
    "sensitive_fields": policies.sensitive_clean,
    "limits": policies.limits_clean,
}


def tenant_settings_update(*, tenant: Tenant, changes) -> TenantSettings:
    """Apply a PATCH of the tenant's settings: each given field is replaced whole (limits: merged by name,
    null restoring a default); nothing is stored unless every field is valid."""
    if not isinstance(changes, dict):
        raise FieldErrors({"non_field_errors": ["A JSON object is required."]})
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in changes if name not in SETTINGS_FIELDS}
    cleaned = {}
    for name, value in changes.items():
        if name in SETTINGS_FIELDS:
            cleaned[name], field_errors = SETTINGS_FIELDS[name](value)
            errors.update(field_errors)
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        row, _ = TenantSettings.objects.select_for_update().get_or_create(tenant=tenant)
        if "limits" in cleaned:
            merged = {**row.limits, **cleaned.pop("limits")}
            row.limits = {k: v for k, v in merged.items() if changes["limits"].get(k, v) is not None}
        for name, value in cleaned.items():
            setattr(row, name, value)
        row.save()
    tenant_policy_cache_clear(tenant)
    return row
