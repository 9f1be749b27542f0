"""Settings for the test suite: the real Postgres and Redis, tasks eager, fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-hs256")

from .settings import *  # noqa: E402,F403

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["LOCATION"] = os.environ.get("TEST_REDIS_URL", "redis://localhost:6379/15")  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [CACHES["default"]["LOCATION"]]  # noqa: F405
CELERY_BROKER_URL = CACHES["default"]["LOCATION"]  # noqa: F405
ELASTICSEARCH_URL = ""  # the mirror's live tests set their own; nothing else may write to a real cluster
