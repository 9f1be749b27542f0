"""The Celery app, tenant-aware: tasks run in the schema of the tenant that sent them."""

import gc
import os

from celery.signals import worker_process_init
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditlog.settings")

app = CeleryApp("auditlog")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_loaded_objects(**_kwargs):
    """A worker process's loaded project leaves the collector's view, as in the web server (auditlog/asgi.py)."""
    gc.freeze()
