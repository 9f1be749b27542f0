"""Dashboard pages (server-rendered, session sign-in): URL namespace `exports`."""

from django.urls import path

from . import views

app_name = "exports"
urlpatterns = [
    path("exports", views.exports_page, name="exports"),
    path("exports/<uuid:pk>", views.export_job, name="job"),
]
