"""Dashboard pages of the account (server-rendered, session sign-in): URL namespace `account`, under /app/."""

from django.urls import path

from . import views

app_name = "account"
urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", views.logout, name="logout"),
    path("tenants", views.tenant_choose, name="tenants"),
    path("account/password", views.PasswordChangeView.as_view(), name="password"),
]
