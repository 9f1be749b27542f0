"""ASGI entry point: HTTP and WebSocket on one port.

HTTP goes to Django's WSGI handler on a fixed pool of threads: in one hand-off for a request with a bounded
body (auditlog.bridge), through a2wsgi otherwise. Django's own ASGI handler runs every request's sync code in
a new thread, which measured at twice the CPU per request; none of our views are async, so nothing is lost.
WebSocket connections go to Channels, their tenant resolved from their credential
(tenants.ws). No Origin check (AllowedHostsOriginValidator): the credential is a
token the client sends, never a cookie, so another site's page cannot borrow one,
and customers' own pages on other origins may connect.
"""

import gc
import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditlog.settings")
django_wsgi_app = get_wsgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from auditlog.bridge import OneHopWSGI  # noqa: E402
from auditlog.disconnect import ClientGoneMiddleware  # noqa: E402
from auditlog.security import WebSocketLimitsMiddleware  # noqa: E402
from search.routing import websocket_urlpatterns  # noqa: E402
from tenants.ws import TenantAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        # A streamed response (an export) learns that its client went away (auditlog.disconnect).
        # Requests with a bounded body in one hand-off to the pool (auditlog.bridge), the others through a2wsgi.
        "http": ClientGoneMiddleware(
            OneHopWSGI(
                django_wsgi_app,
                WSGIMiddleware(django_wsgi_app, workers=settings.HTTP_THREADS),
                body_max=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            )
        ),
        # The request limits of HTTP (auditlog.security) first: a refused handshake costs no database round trip.
        "websocket": WebSocketLimitsMiddleware(TenantAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

# The loaded project's ~200,000 objects leave the collector's view: its full collections (every second or third
# bulk request, ~180 ms each with the GIL held) would otherwise walk them all.
gc.collect()
gc.freeze()
