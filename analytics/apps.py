from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self):
        from ingest.relay import outbox_handler_register

        from .rollups import RELAY_HANDLER_NAME, rollups_relay_handler

        outbox_handler_register(RELAY_HANDLER_NAME, rollups_relay_handler)
