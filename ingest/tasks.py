"""Periodic upkeep of the event table, fanned out per tenant."""

from celery import shared_task
from django_tenants.utils import get_tenant_model, tenant_context
from tenant_schemas_celery.task import TenantTask

from .partitions import partitions_ensure


@shared_task(name="ingest.ensure_partitions", base=TenantTask)
def ensure_partitions():
    return partitions_ensure()


@shared_task(name="ingest.ensure_partitions_all_tenants")
def ensure_partitions_all_tenants():
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            ensure_partitions.delay()
