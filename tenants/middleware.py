"""Start every request in the public schema and note the tenant named by the host, if any.

The tenant a request works in is decided by its credential (see tenants.authentication);
a tenant subdomain only serves to refuse credentials of another tenant.
"""

from django.conf import settings
from django.db import connection

from .selectors import tenant_for_host


class TenantContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.base = settings.TENANT_BASE_DOMAIN.lower()

    def __call__(self, request):
        # Persistent connections keep their search_path between requests: reset it.
        connection.set_schema_to_public()
        request.host_tenant = self._host_tenant(request)
        return self.get_response(request)

    def _host_tenant(self, request):
        host = request.META.get("HTTP_HOST", "")
        hostname = host.split(":")[0].lower()
        if not hostname.endswith("." + self.base):
            return None
        return tenant_for_host(hostname)
