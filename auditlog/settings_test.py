"""Settings for the test suite: the real Postgres and Redis, tasks eager, fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-hs256")
# base64 of "TEST-ONLY-master-key-not-secret!": a fixed master key for the suite, public like this file.
os.environ.setdefault("ENCRYPTION_MASTER_KEY", "VEVTVC1PTkxZLW1hc3Rlci1rZXktbm90LXNlY3JldCE=")

from .settings import *  # noqa: E402,F403

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["LOCATION"] = os.environ.get("TEST_REDIS_URL", "redis://localhost:6379/15")  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [CACHES["default"]["LOCATION"]]  # noqa: F405
CELERY_BROKER_URL = CACHES["default"]["LOCATION"]  # noqa: F405
ELASTICSEARCH_URL = ""  # the mirror's live tests set their own; nothing else may write to a real cluster
AUDITLOG["TRAIL_FLUSH_SECONDS"] = 0  # noqa: F405 - tests write the access trail with search.trail.trail_flush()
# Rate limits: counters of parallel test runs (one test database each) never meet, and the defaults are
# so high that only the rate-limit tests, which set their own, are ever limited.
AUDITLOG["RATE_REDIS_URL"] = CACHES["default"]["LOCATION"]  # noqa: F405
AUDITLOG["RATE_KEY_PREFIX"] = f"auditlog:rl:{DATABASES['default']['TEST']['NAME']}"  # noqa: F405
for _name in (
    "RATE_INGEST_PER_SECOND",
    "RATE_INGEST_PER_SECOND_PER_CREDENTIAL",
    "RATE_READ_PER_MINUTE",
    "RATE_READ_PER_MINUTE_PER_CREDENTIAL",
    "RATE_STAFF_PER_MINUTE",
    "RATE_LOGIN_PER_MINUTE",
    "RATE_LOGIN_PER_MINUTE_PER_IP",
):
    AUDITLOG[_name] = 1_000_000  # noqa: F405
