"""Dashboard pages (server-rendered, session sign-in): URL namespace `settings`."""

from django.urls import path

from . import settings_views as views

app_name = "settings"
urlpatterns = [
    path("members", views.members, name="members"),
    path("members/<int:pk>/role", views.member_role, name="member-role"),
    path("members/<int:pk>/remove", views.member_remove, name="member-remove"),
    path("keys", views.keys, name="keys"),
    path("keys/<int:pk>/revoke", views.key_revoke, name="key-revoke"),
    path("policy", views.policy, name="policy"),
]
