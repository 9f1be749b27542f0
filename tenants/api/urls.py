from django.urls import path

from . import views

urlpatterns = [
    path("auth/token", views.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("tenants", views.TenantListView.as_view(), name="tenant-list"),
    path("tenants/<int:pk>", views.TenantDetailView.as_view(), name="tenant-detail"),
    path("api-keys", views.ApiKeyListView.as_view(), name="apikey-list"),
    path("api-keys/<int:pk>", views.ApiKeyDetailView.as_view(), name="apikey-detail"),
    path("members", views.MemberListView.as_view(), name="member-list"),
    path("members/<int:pk>", views.MemberDetailView.as_view(), name="member-detail"),
    path("settings", views.SettingsView.as_view(), name="settings"),
]
