"""Dashboard pages (server-rendered, session sign-in): URL namespace `stats`."""

from django.urls import path

from . import views

app_name = "stats"
urlpatterns = [
    path("stats", views.stats_page, name="stats"),
]
