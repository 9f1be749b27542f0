"""Dashboard pages (server-rendered, session sign-in): URL namespace `alerts`."""

from django.urls import path

from . import views

app_name = "alerts"
urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new", views.rule_create, name="create"),
    path("<int:pk>", views.rule_detail, name="detail"),
    path("<int:pk>/mute", views.rule_mute, name="mute"),
    path("<int:pk>/delete", views.rule_delete, name="delete"),
    path("<int:pk>/history", views.rule_history, name="history"),
]
