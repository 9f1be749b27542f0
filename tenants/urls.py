"""Dashboard pages (server-rendered, session sign-in): URL namespace `account`."""

app_name = "account"
urlpatterns: list = []
