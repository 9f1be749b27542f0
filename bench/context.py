"""Paths, Django set-up and raw database connections."""

import os
import secrets
from pathlib import Path

import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditlog.settings")
    import django

    django.setup()


def conninfo() -> str:
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"], "host": db["HOST"]}
    params["port"] = str(db["PORT"]) if db["PORT"] else None
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})


def connect(schema: str | None = None, **kwargs) -> psycopg.Connection:
    """A raw psycopg connection (autocommit), its search_path on schema when given."""
    conn = psycopg.connect(conninfo(), autocommit=True, **kwargs)
    if schema:
        conn.execute(f'SET search_path TO "{schema}", public')
    return conn


def server_secret_key() -> str:
    """SECRET_KEY for the server run with DEBUG=0: the configured one, else a throw-away one."""
    return os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
