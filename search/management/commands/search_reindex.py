"""manage.py search_reindex [--tenant SLUG]: rebuild tenants' Elasticsearch mirror from Postgres."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, get_tenant_model, tenant_context
from elasticsearch import ApiError, TransportError

from search.mirror.cluster import mirror_enabled
from search.mirror.indexing import MirrorWriteFailed
from search.mirror.reindex import BATCH_SIZE, index_rebuild


class Command(BaseCommand):
    help = "Rebuild the search mirror of every tenant (or one) from Postgres into a new index, then swap its alias."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Events per bulk request.")

    def handle(self, *args, tenant=None, batch_size=BATCH_SIZE, **options):
        if not mirror_enabled():
            raise CommandError("The search mirror is off: set ELASTICSEARCH_URL to rebuild it.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        tenants = get_tenant_model().objects.exclude(schema_name=get_public_schema_name()).order_by("slug")
        if tenant is not None:
            tenants = tenants.filter(slug=tenant)
            if not tenants:
                raise CommandError(f"No tenant with slug '{tenant}'.")
        for each in tenants:
            try:
                with tenant_context(each):
                    index, copied = index_rebuild(batch_size=batch_size)
            except (ApiError, TransportError, MirrorWriteFailed) as exc:
                raise CommandError(
                    f"Rebuilding {each.slug} in Elasticsearch at {settings.ELASTICSEARCH_URL} failed: {exc}"
                ) from exc
            self.stdout.write(f"{each.slug}: {copied} events into {index}")
