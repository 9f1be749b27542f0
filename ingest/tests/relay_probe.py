"""A relay handler for tests that run a real worker: records relayed event ids in Redis.

Loaded into a worker with `celery worker --include ingest.tests.relay_probe`. With
RELAY_PROBE_DELAY set, it sleeps before recording, so a test can kill the worker mid-batch.
"""

import os
import time

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from ingest.relay import outbox_handler_register


def probe_key(schema_name: str) -> str:
    """Per test database too: test runs side by side share the Redis database."""
    return f"auditlog:test:relayed:{settings.DATABASES['default']['NAME']}:{schema_name}"


def record(events):
    redis = get_redis_connection("default")
    redis.set(probe_key(connection.schema_name) + ":started", 1)
    time.sleep(float(os.environ.get("RELAY_PROBE_DELAY", "0")))
    if events:
        redis.rpush(probe_key(connection.schema_name), *[str(e.id) for e in events])


outbox_handler_register("test-probe", record)
