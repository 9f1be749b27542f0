"""Dashboard pages (server-rendered, session sign-in): URL namespace `settings`."""

app_name = "settings"
urlpatterns: list = []
