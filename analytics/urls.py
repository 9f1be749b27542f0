"""Dashboard pages (server-rendered, session sign-in): URL namespace `stats`."""

app_name = "stats"
urlpatterns: list = []
