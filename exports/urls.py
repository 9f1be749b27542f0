"""Dashboard pages (server-rendered, session sign-in): URL namespace `exports`."""

app_name = "exports"
urlpatterns: list = []
