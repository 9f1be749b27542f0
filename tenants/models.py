"""Who: tenants, their domains, people, memberships with roles, and API keys (public schema)."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class User(AbstractUser):
    """A person. Lives in the public schema; belongs to tenants through memberships."""


class Tenant(TenantMixin):
    slug = models.SlugField(max_length=48, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class Domain(DomainMixin):
    pass


class Role(models.TextChoices):
    ADMIN = "ADMIN", "Admin"
    AUDITOR = "AUDITOR", "Auditor"
    USER = "USER", "User"


# Higher rank can do everything a lower rank can.
ROLE_RANK = {Role.USER: 1, Role.AUDITOR: 2, Role.ADMIN: 3}


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant_uniq")]

    def __str__(self):
        return f"{self.user} @ {self.tenant} ({self.role})"


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest events"
    READ = "read", "Read events"
    EXPORT = "export", "Export events"


class ApiKey(models.Model):
    """A tenant's machine credential. Only a SHA-256 of the secret is kept."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix})"


class TenantSettings(models.Model):
    """A tenant's policies (GET/PATCH /api/v1/settings): retention, masking rules, sensitive fields, limits.

    Read through tenants.selectors.tenant_settings (cached briefly per process); shapes are checked by
    tenants.policies.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="policy")
    retention_days = models.PositiveIntegerField(default=90)
    # {"keys": [key names masked wherever they occur], "paths": [dotted paths], "patterns": [regexes]}
    masking = models.JSONField(default=dict)
    sensitive_fields = models.JSONField(default=list)  # dotted paths under metadata, encrypted at rest
    limits = models.JSONField(default=dict)  # overrides of the rate limits (tenants.policies.LIMIT_NAMES)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"settings of {self.tenant_id}"


class TenantKey(models.Model):
    """One version of a tenant's data key, stored only wrapped by the key provider (tenants.keys).

    The unretired version encrypts new writes; retired ones are kept for reading what they encrypted.
    Deleting the tenant deletes these rows, and with them every way to read its encrypted content.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="data_keys")
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    provider = models.CharField(max_length=32)  # the KeyProvider's name
    master_key_id = models.CharField(max_length=200)  # which of the provider's keys wrapped it
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="tenantkey_tenant_version_uniq"),
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(retired_at=None), name="tenantkey_one_active_per_tenant"
            ),
        ]

    def __str__(self):
        return f"data key {self.version} of {self.tenant_id}"
