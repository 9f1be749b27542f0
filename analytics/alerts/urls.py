"""Dashboard pages (server-rendered, session sign-in): URL namespace `alerts`."""

app_name = "alerts"
urlpatterns: list = []
