from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self):
        from ingest.relay import outbox_handler_register

        from .rollups import RELAY_HANDLER_NAME, rollups_relay_handler

        outbox_handler_register(RELAY_HANDLER_NAME, rollups_relay_handler)

        from .alerts.evaluation import RELAY_HANDLER_NAME as ALERTS_HANDLER_NAME
        from .alerts.evaluation import alerts_relay_handler

        outbox_handler_register(ALERTS_HANDLER_NAME, alerts_relay_handler)
