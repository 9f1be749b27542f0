from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.core import checks

        from .keys import development_key_check, key_provider

        checks.register(development_key_check, checks.Tags.security)
        key_provider()  # a malformed master key stops the process at start, not at its first event
