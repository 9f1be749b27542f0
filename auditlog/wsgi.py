"""WSGI entry point (HTTP only; the WebSocket live tail needs the ASGI one)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditlog.settings")
application = get_wsgi_application()
