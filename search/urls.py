"""Dashboard pages (server-rendered, session sign-in): URL namespace `logs`."""

app_name = "logs"
urlpatterns: list = []
