"""Project settings. The environment is read here and nowhere else."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-change-me" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1", "[::1]", "testserver"])

# The base domain under which tenant dashboards live: <slug>.<TENANT_BASE_DOMAIN>.
TENANT_BASE_DOMAIN = env.str("TENANT_BASE_DOMAIN", default="localhost")

SHARED_APPS = [
    "django_tenants",
    "daphne",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
]
TENANT_APPS = [
    "ingest",
    "search",
    "analytics",
    "exports",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# django-tenants forgets the cached search_path on rollback, so setting it once
# per schema switch (instead of before every cursor) is safe and saves a round trip.
TENANT_LIMIT_SET_CALLS = True
AUTH_USER_MODEL = "tenants.User"

MIDDLEWARE = [
    # Security headers first, so that every response has them, even a refusal of the request limits.
    "django.middleware.security.SecurityMiddleware",
    "auditlog.security.ContentSecurityPolicyMiddleware",
    "auditlog.security.RequestLimitsMiddleware",
    "tenants.middleware.TenantContextMiddleware",
    "search.trail.AccessTrailMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx, for the dashboard's partial responses
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "auditlog.urls"
# Threads per web process serving HTTP requests (see auditlog/asgi.py).
HTTP_THREADS = env.int("HTTP_THREADS", default=8)
ASGI_APPLICATION = "auditlog.asgi.application"
WSGI_APPLICATION = "auditlog.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.dashboard.dashboard_context",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@localhost:5432/auditlog"),
}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# Under ASGI every request runs its sync code in a thread of its own, so thread-bound
# persistent connections (CONN_MAX_AGE) would open a connection per request. A psycopg
# pool per process instead; django-tenants sets the tenant's search_path on every
# connection taken from it (a fresh wrapper never trusts a previous search_path).
if env.bool("DB_POOL", default=True):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=2),
        "max_size": env.int("DB_POOL_MAX", default=16),
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=300)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default="test_auditlog")
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://localhost:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

# The optional Elasticsearch search mirror (search/mirror/). An empty URL turns it off:
# reads then go to Postgres only, and the relay handler does nothing.
ELASTICSEARCH_URL = env.str("ELASTICSEARCH_URL", default="")
# Tenant indices are <prefix>-<schema> (an alias) over <prefix>-<schema>-v<N>.
ELASTICSEARCH_INDEX_PREFIX = env.str("ELASTICSEARCH_INDEX_PREFIX", default="auditlog")
ELASTICSEARCH_TIMEOUT = env.float("ELASTICSEARCH_TIMEOUT", default=10.0)  # seconds, per write request
# Seconds a search or read may take before Postgres answers it instead.
ELASTICSEARCH_SEARCH_TIMEOUT = env.float("ELASTICSEARCH_SEARCH_TIMEOUT", default=2.0)
# The health probe that decides between Elasticsearch and Postgres for reads: its
# timeout, and how long a process trusts its answer.
ELASTICSEARCH_HEALTH_TIMEOUT = env.float("ELASTICSEARCH_HEALTH_TIMEOUT", default=0.5)
ELASTICSEARCH_HEALTH_TTL = env.float("ELASTICSEARCH_HEALTH_TTL", default=5.0)

# Encryption at rest (tenants/keys.py, ingest/crypto.py): each tenant's data keys are wrapped by a key
# provider; the local one uses ENCRYPTION_MASTER_KEY (base64 of 32 random bytes). During a master-key
# rotation the previous keys (ENCRYPTION_OLD_MASTER_KEYS, a comma list) still unwrap until
# `manage.py tenant_keys_rotate --rewrap` has re-wrapped every data key under the new one.
ENCRYPTION_KEY_PROVIDER = env.str("ENCRYPTION_KEY_PROVIDER", default="tenants.keys.LocalKeyProvider")
# A fixed, public key for DEBUG only: whatever it protects is readable by anyone with this source code.
DEVELOPMENT_MASTER_KEY = "SU5TRUNVUkUtZGV2ZWxvcG1lbnQtb25seS1tYXN0ZXI="  # base64 of "INSECURE-development-only-master"
ENCRYPTION_MASTER_KEY = env.str("ENCRYPTION_MASTER_KEY", default="")
ENCRYPTION_OLD_MASTER_KEYS = env.list("ENCRYPTION_OLD_MASTER_KEYS", default=[])
if not ENCRYPTION_MASTER_KEY and ENCRYPTION_KEY_PROVIDER == "tenants.keys.LocalKeyProvider":
    if not DEBUG:
        raise ImproperlyConfigured(
            "ENCRYPTION_MASTER_KEY is not set. Set it to the base64 of 32 random bytes, e.g. "
            "`python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'`, "
            "and keep it safe: without it no tenant's encrypted event content can be read."
        )
    ENCRYPTION_MASTER_KEY = DEVELOPMENT_MASTER_KEY
# Seconds a process keeps a tenant's unwrapped data keys: a rotation reaches new writes, and a deleted
# tenant's keys leave every process's memory, within this time.
ENCRYPTION_KEY_CACHE_SECONDS = env.float("ENCRYPTION_KEY_CACHE_SECONDS", default=60.0)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "relay-all-tenants": {
        "task": "ingest.relay_all_tenants",
        "schedule": env.float("RELAY_SWEEP_SECONDS", default=5.0),
    },
    # Hash chain (ingest.sealing): each tenant's new events are sealed within about a second of this.
    "seal-all-tenants": {
        "task": "ingest.seal_all_tenants",
        "schedule": env.float("SEAL_SWEEP_SECONDS", default=1.0),
    },
    "ensure-event-partitions": {
        "task": "ingest.ensure_partitions_all_tenants",
        "schedule": 6 * 3600,
    },
    # Alert deliveries whose task was lost (a worker died between commit and send).
    "alert-deliveries-due": {
        "task": "analytics.alert_deliveries_due_all_tenants",
        "schedule": 60.0,
    },
    "expire-exports": {
        "task": "exports.expire_all_tenants",
        "schedule": env.float("EXPORT_EXPIRE_SWEEP_SECONDS", default=900.0),
    },
}

# The dashboard's session sign-in (tenants/views.py); the Django admin has its own login page.
LOGIN_URL = "account:login"
LOGIN_REDIRECT_URL = "account:home"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2id for new and changed passwords; the others only verify older hashes (upgraded at the next login).
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ],
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The dashboard's own CSS and JavaScript (static/dashboard/), vendored libraries included; no build step.
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    # Export files (exports/<schema>/<job id>.<ext>.gz); replace with an S3-compatible storage in production.
    "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env.str("EXPORT_STORAGE_ROOT", default=str(BASE_DIR / "media"))},
    },
}
# Without collectstatic (local runs), serve straight from the apps' static folders.
WHITENOISE_USE_FINDERS = True

# Request body cap (bulk requests are the largest legitimate bodies).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BODY_BYTES", default=8 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "tenants.authentication.TenantJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.AccessPolicy"],
    "DEFAULT_PARSER_CLASSES": ["auditlog.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["auditlog.renderers.FastJSONRenderer"],
    "EXCEPTION_HANDLER": "auditlog.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "auditlog.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # Atomic Redis limits per tenant and per credential (tenants/ratelimit.py); sign-in has its own.
    "DEFAULT_THROTTLE_CLASSES": ["tenants.ratelimit.ApiRateThrottle"],
    # Reverse proxies in front of the service whose X-Forwarded-For is trusted for the client address
    # (sign-in limits per address); 0: the address of the connection itself.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Audit Log API",
    "DESCRIPTION": (
        "Multi-tenant audit log: ingest events, search them, and manage tenants, members and API keys. "
        "Authenticate with `Authorization: Bearer <JWT or API key>` or `X-API-Key: <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets are served by this service, not fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: it would send the schema's URL to validator.swagger.io (and the CSP blocks it anyway).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "JWT access token or API key"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    },
    "SECURITY": [{"bearer": []}, {"apiKey": []}],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "auditlog.openapi.strict_request_bodies",  # request bodies refuse unknown fields
    ],
    "AUTHENTICATION_WHITELIST": [],
}

# Product settings, read through auditlog.conf.auditlog_settings.
AUDITLOG = {
    "MAX_EVENT_BYTES": env.int("MAX_EVENT_BYTES", default=64 * 1024),
    "BULK_MAX_EVENTS": 1000,
    "MESSAGE_MAX_BYTES": 4096,
    "METADATA_MAX_BYTES": 16 * 1024,
    "METADATA_MAX_DEPTH": 5,
    "TAGS_MAX": 20,
    "FUTURE_SKEW_SECONDS": 300,
    "LIST_DEFAULT_LIMIT": 50,
    "LIST_MAX_LIMIT": 1000,
    "PARTITION_MONTHS_BEHIND": 3,
    "PARTITION_MONTHS_AHEAD": 2,
    # Live tail (WS /api/v1/logs/stream): idle heartbeat interval; events a connection may have
    # waiting before it is told it lagged and closed; stored events read per replay query.
    "TAIL_HEARTBEAT_SECONDS": env.float("TAIL_HEARTBEAT_SECONDS", default=20.0),
    "TAIL_QUEUE_EVENTS": env.int("TAIL_QUEUE_EVENTS", default=1000),
    "TAIL_REPLAY_PAGE": env.int("TAIL_REPLAY_PAGE", default=500),
    # Access trail (search/trail.py): seconds between writes of the reads recorded meanwhile (0: only when
    # search.trail.trail_flush() is called, as in tests).
    "TRAIL_FLUSH_SECONDS": env.float("TRAIL_FLUSH_SECONDS", default=0.2),
    # Tenant policy defaults (GET/PATCH /api/v1/settings overrides them per tenant).
    "RETENTION_DAYS": env.int("RETENTION_DAYS", default=90),
    "POLICY_CACHE_SECONDS": env.float("POLICY_CACHE_SECONDS", default=5.0),
    # Rate limits: requests per window, per tenant and per credential; ingest and reads apart.
    "RATE_INGEST_PER_SECOND": env.int("RATE_INGEST_PER_SECOND", default=2000),
    "RATE_INGEST_PER_SECOND_PER_CREDENTIAL": env.int("RATE_INGEST_PER_SECOND_PER_CREDENTIAL", default=1000),
    "RATE_READ_PER_MINUTE": env.int("RATE_READ_PER_MINUTE", default=12000),
    "RATE_READ_PER_MINUTE_PER_CREDENTIAL": env.int("RATE_READ_PER_MINUTE_PER_CREDENTIAL", default=6000),
    # Platform staff calling without a tenant: requests per minute per person.
    "RATE_STAFF_PER_MINUTE": env.int("RATE_STAFF_PER_MINUTE", default=600),
    # Sign-in attempts (POST /api/v1/auth/token) per minute: per username and client address, per address.
    "RATE_LOGIN_PER_MINUTE": env.int("RATE_LOGIN_PER_MINUTE", default=10),
    "RATE_LOGIN_PER_MINUTE_PER_IP": env.int("RATE_LOGIN_PER_MINUTE_PER_IP", default=60),
    # Where the counters live, and the prefix of their keys (deployments sharing a Redis need their own).
    "RATE_REDIS_URL": env.str("RATE_REDIS_URL", default=REDIS_URL),
    "RATE_KEY_PREFIX": env.str("RATE_KEY_PREFIX", default="auditlog:rl"),
    # Alert notifications (analytics.alerts): webhook timeout, attempts per delivery (with exponential backoff
    # from the base delay), matched events sent per firing; webhooks to private, loopback or link-local
    # addresses are refused unless allowed (tenants could otherwise reach internal services).
    "ALERT_WEBHOOK_TIMEOUT_SECONDS": env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=5.0),
    "ALERT_DELIVERY_MAX_ATTEMPTS": env.int("ALERT_DELIVERY_MAX_ATTEMPTS", default=6),
    "ALERT_RETRY_BASE_SECONDS": env.float("ALERT_RETRY_BASE_SECONDS", default=10.0),
    "ALERT_EVENTS_PER_FIRING": env.int("ALERT_EVENTS_PER_FIRING", default=20),
    "ALERT_WEBHOOK_ALLOW_PRIVATE": env.bool("ALERT_WEBHOOK_ALLOW_PRIVATE", default=False),
    "ALERT_EMAIL_FROM": env.str("ALERT_EMAIL_FROM", default="alerts@auditlog.localhost"),
    # Exports (exports/): rows per fetch of the stream and per page of a job; rows between a job's progress
    # updates; hours until a job and its file expire; minutes a download link is valid; active jobs per tenant.
    "EXPORT_FETCH_ROWS": env.int("EXPORT_FETCH_ROWS", default=2000),
    "EXPORT_PROGRESS_ROWS": env.int("EXPORT_PROGRESS_ROWS", default=10000),
    "EXPORT_TTL_HOURS": env.float("EXPORT_TTL_HOURS", default=24.0),
    "EXPORT_LINK_MINUTES": env.float("EXPORT_LINK_MINUTES", default=60.0),
    "EXPORT_JOBS_ACTIVE_MAX": env.int("EXPORT_JOBS_ACTIVE_MAX", default=5),
}
_bad_rates = [k for k, v in AUDITLOG.items() if k.startswith("RATE_") and isinstance(v, int) and v < 1]
if _bad_rates:
    raise ImproperlyConfigured(f"{', '.join(_bad_rates)}: rate limits are requests per window, at least 1.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# Security. Request limits and the Content-Security-Policy are auditlog/security.py's; the rest is Django's.
REQUEST_HEADER_MAX_BYTES = env.int("REQUEST_HEADER_MAX_BYTES", default=8 * 1024)  # one header, name and value
REQUEST_HEADERS_MAX_BYTES = env.int("REQUEST_HEADERS_MAX_BYTES", default=32 * 1024)  # all of them
QUERY_STRING_MAX_BYTES = env.int("QUERY_STRING_MAX_BYTES", default=8 * 1024)
# JSON bodies nest no deeper than this (event metadata and changes have their own, lower, limit).
JSON_MAX_DEPTH = 32
# Pages load scripts, styles and images only from this origin; Swagger UI needs inline styles and data: images.
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Behind a proxy that terminates TLS, name its header (e.g. "X-Forwarded-Proto") so Django knows a request came
# over HTTPS; only set it when that proxy always sets or strips the header, or clients could claim HTTPS.
if _ssl_header := env.str("SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _ssl_header.upper().replace("-", "_"), "https")
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    # On when the service is reached over HTTPS (set SECURE_PROXY_SSL_HEADER behind a TLS proxy); probes stay on HTTP.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is hard to undo (browsers ship the list): only on request, so its deploy check is quiet without it.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
