"""Liveness and readiness probes."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from search.mirror.cluster import mirror_enabled, mirror_healthy


def healthz(request):
    return JsonResponse({"status": "ok"})


def _mirror() -> dict:
    """The search mirror's state. Not a readiness check: when it is down, Postgres serves reads."""
    if not mirror_enabled():
        return {"enabled": False}
    return {"enabled": True, "healthy": mirror_healthy()}


def readyz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc.__class__.__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks, "mirror": _mirror()}
    if checks["database"] == "ok":
        body["relay"] = _relay_lag()
    return JsonResponse(body, status=200 if ready else 503)


def _relay_lag() -> dict:
    """Outbox entries not yet relayed, over all tenants, and the age of the oldest (no tenant named)."""
    from django_tenants.utils import get_tenant_model

    from ingest.relay import outbox_lag_all

    connection.set_schema_to_public()
    schemas = list(get_tenant_model().objects.exclude(schema_name="public").values_list("schema_name", flat=True))
    return outbox_lag_all(schemas)
