"""The Celery app, tenant-aware: tasks run in the schema of the tenant that sent them."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditlog.settings")

app = CeleryApp("auditlog")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
