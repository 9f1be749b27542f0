"""Dashboard pages (server-rendered, session sign-in): URL namespace `logs`."""

from django.urls import path

from . import views

app_name = "logs"
urlpatterns = [
    path("logs", views.logs_page, name="list"),
    path("logs/<uuid:event_id>", views.log_detail, name="detail"),
    path("live", views.live_page, name="live"),
    path("live/token", views.live_token, name="live-token"),
]
