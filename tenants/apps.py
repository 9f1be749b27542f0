from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .keys import key_provider

        key_provider()  # a malformed master key stops the process at start, not at its first event
