"""Create the database named by DATABASE_URL if it does not exist (needs only a running server)."""

import os
import sys
from pathlib import Path

import environ
import psycopg
from psycopg import sql

environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
config = environ.Env.db_url_config(os.environ.get("DATABASE_URL", "postgres://postgres@localhost:5432/auditlog"))
params = {
    k: v
    for k, v in {
        "host": config.get("HOST"),
        "port": config.get("PORT"),
        "user": config.get("USER"),
        "password": config.get("PASSWORD"),
    }.items()
    if v
}
try:
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            print(f"Created database {config['NAME']}.")
except psycopg.OperationalError as exc:
    sys.exit(f"Cannot reach PostgreSQL ({exc}). Is it running? See README, 'Configuration'.")
