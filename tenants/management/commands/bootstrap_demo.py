"""Create a demo tenant, its Admin and an ingest key when no tenant exists; print how to use them."""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from tenants.models import Scope, Tenant
from tenants.services import api_key_create, tenant_create

CREDENTIALS_FILE = Path(settings.BASE_DIR) / ".demo.json"


class Command(BaseCommand):
    help = "Create a demo tenant with an Admin and an ingest key if there is no tenant yet."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--credentials-file", type=Path, default=CREDENTIALS_FILE)

    def handle(self, *args, port, credentials_file, **options):
        if not Tenant.objects.exclude(schema_name="public").exists():
            password = secrets.token_urlsafe(12)
            tenant = tenant_create(
                slug="demo",
                name="Demo",
                admin={"username": "admin", "email": "admin@example.com", "password": password},
            )
            _, ingest_key = api_key_create(tenant=tenant, name="demo ingest", scopes=[Scope.INGEST])
            _, read_key = api_key_create(tenant=tenant, name="demo read", scopes=[Scope.READ])
            credentials_file.write_text(
                json.dumps(
                    {
                        "tenant": "demo",
                        "username": "admin",
                        "password": password,
                        "ingest_key": ingest_key,
                        "read_key": read_key,
                    }
                )
            )
            credentials_file.chmod(0o600)
            self.stdout.write(self.style.SUCCESS("Created the demo tenant 'demo'."))
        if not credentials_file.exists():
            self.stdout.write("Tenants exist; no demo credentials on file (.demo.json).")
            return
        creds = json.loads(credentials_file.read_text())
        base = f"http://localhost:{port}"
        event = json.dumps(
            {"actor": {"id": "alice"}, "action": "LOGIN", "resource": {"type": "session"}, "message": "Alice signed in"}
        )
        self.stdout.write(
            f"""
Demo tenant '{creds["tenant"]}'
  Admin login : {creds["username"]} / {creds["password"]}
  Ingest key  : {creds["ingest_key"]}
  Read key    : {creds["read_key"]}

Send an event:
  curl -s -X POST {base}/api/v1/logs -H 'Authorization: Bearer {creds["ingest_key"]}' \\
       -H 'Content-Type: application/json' -d '{event}'
Read it back:
  curl -s {base}/api/v1/logs -H 'Authorization: Bearer {creds["read_key"]}'
API docs: {base}/api/docs/
"""
        )
