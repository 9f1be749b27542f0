"""Celery tasks of exports: run a job, and expire old jobs and files (fanned out per tenant).

Tasks take ids, never objects: tenant-schemas-celery runs each in the schema it was sent from.
"""

from celery import shared_task
from django_tenants.utils import get_tenant_model, tenant_context
from tenant_schemas_celery.task import TenantTask

from .services import export_job_run, export_jobs_expire


@shared_task(name="exports.run_job", base=TenantTask)
def export_job_run_task(job_id: str):
    return export_job_run(job_id)


@shared_task(name="exports.expire", base=TenantTask)
def exports_expire():
    return export_jobs_expire()


@shared_task(name="exports.expire_all_tenants")
def exports_expire_all_tenants():
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            exports_expire.delay()
