from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"

    def ready(self):
        from ingest.relay import outbox_handler_register
        from tenants.services import tenant_deleted_hook_register

        from .mirror.indexing import RELAY_HANDLER_NAME, mirror_relay_handler, mirror_tenant_drop

        outbox_handler_register(RELAY_HANDLER_NAME, mirror_relay_handler)
        tenant_deleted_hook_register("search mirror", mirror_tenant_drop)
