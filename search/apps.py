from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"

    def ready(self):
        from ingest.relay import outbox_handler_register

        from .mirror.indexing import RELAY_HANDLER_NAME, mirror_relay_handler

        outbox_handler_register(RELAY_HANDLER_NAME, mirror_relay_handler)
