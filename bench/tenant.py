"""The `bench` tenant, created when missing, and fresh API keys for one run."""

import secrets
from dataclasses import dataclass

from django.db import connection

from ingest.partitions import partitions_ensure
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create, api_key_revoke, tenant_create

TENANT_SLUG = "bench"
ADMIN_USERNAME = "bench-admin"


@dataclass
class BenchTenant:
    tenant: Tenant
    schema: str
    ingest_key: str  # raw secrets
    read_key: str
    keys: list[ApiKey]

    def revoke_keys(self):
        for key in self.keys:
            api_key_revoke(key=key)


def _tenant_get_or_create() -> Tenant:
    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        admin = {
            "username": ADMIN_USERNAME,
            "email": f"{ADMIN_USERNAME}@example.com",
            "password": secrets.token_urlsafe(24),
        }
        tenant = tenant_create(slug=TENANT_SLUG, name="Benchmark", admin=admin)
    return tenant


def _partitions_ensure(tenant: Tenant):
    connection.set_tenant(tenant)
    try:
        partitions_ensure()
    finally:
        connection.set_schema_to_public()


def bench_tenant() -> BenchTenant:
    """The `bench` tenant (created when missing, its partitions ensured) and fresh ingest and read keys."""
    tenant = _tenant_get_or_create()
    _partitions_ensure(tenant)
    ingest, ingest_secret = api_key_create(tenant=tenant, name="bench ingest", scopes=["ingest"])
    read, read_secret = api_key_create(tenant=tenant, name="bench read", scopes=["read"])
    return BenchTenant(tenant, tenant.schema_name, ingest_secret, read_secret, [ingest, read])
