from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from analytics.stats import LogStatsView
from ingest.api.verify import LogVerifyView

from . import health

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Its start-up script is served as a file (?script), so the Content-Security-Policy needs no inline scripts.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("tenants.api.urls")),
    path("api/v1/", include("analytics.alerts.api.urls")),
    path("api/v1/logs/stats", LogStatsView.as_view(), name="log-stats"),
    path("api/v1/logs/verify", LogVerifyView.as_view(), name="log-verify"),
    path("api/v1/", include("exports.api.urls")),  # before search: logs/export is not an event id
    path("api/v1/", include("search.api.urls")),
    path("admin/", admin.site.urls),
    # The dashboard (session sign-in), one URL namespace per app; see tenants.dashboard.
    path("app/", include("tenants.urls")),
    path("app/settings/", include("tenants.settings_urls")),
    path("app/settings/alerts/", include("analytics.alerts.urls")),
    path("app/", include("search.urls")),
    path("app/", include("analytics.urls")),
    path("app/", include("exports.urls")),
]

handler400 = "auditlog.errors.handler400"
handler403 = "auditlog.errors.handler403"
handler404 = "auditlog.errors.handler404"
handler500 = "auditlog.errors.handler500"
