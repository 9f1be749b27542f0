"""WebSocket routes, served under tenants.ws.TenantAuthMiddleware (see auditlog/asgi.py)."""

from django.urls import path

from .consumers import ROUTE_NAME, LiveTailConsumer

websocket_urlpatterns = [
    path("api/v1/logs/stream", LiveTailConsumer.as_asgi(), name=ROUTE_NAME),
]
