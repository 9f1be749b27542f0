"""Rotate tenants' data keys, or re-wrap them under the current master key.

    manage.py tenant_keys_rotate [--tenant SLUG]            a new data key version for new writes
    manage.py tenant_keys_rotate [--tenant SLUG] --rewrap   every data key re-wrapped under the current master key

Data-key rotation: the new version encrypts what is written from now on (within
ENCRYPTION_KEY_CACHE_SECONDS in every process); the old versions are kept to read older events.
Master-key rotation: set ENCRYPTION_MASTER_KEY to the new key and list the old one in
ENCRYPTION_OLD_MASTER_KEYS, restart, run with --rewrap, then drop the old key from the environment.
"""

from django.core.management.base import BaseCommand, CommandError

from tenants.keys import KeyUnavailable, data_keys_forget, tenant_key_create, tenant_keys_rewrap
from tenants.selectors import tenant_get_by_slug, tenant_list


class Command(BaseCommand):
    help = "Make a new data key version for tenants (all, or --tenant SLUG); with --rewrap, re-wrap their keys."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
        parser.add_argument(
            "--rewrap", action="store_true", help="Re-wrap every data key under the current master key instead."
        )

    def handle(self, *args, tenant=None, rewrap=False, **options):
        if tenant is not None:
            found = tenant_get_by_slug(tenant)
            if found is None or found.schema_name == "public":
                raise CommandError(f"No tenant with slug '{tenant}'.")
            tenants = [found]
        else:
            tenants = list(tenant_list())
        failed = []
        for t in tenants:
            if rewrap:
                try:
                    count = tenant_keys_rewrap(t)
                except KeyUnavailable as exc:
                    failed.append(t.slug)
                    self.stderr.write(
                        f"{t.slug}: not re-wrapped ({exc}); is its master key in ENCRYPTION_OLD_MASTER_KEYS?"
                    )
                    continue
                self.stdout.write(f"{t.slug}: {count} data key(s) re-wrapped")
            else:
                key = tenant_key_create(t)
                self.stdout.write(f"{t.slug}: data key version {key.version} active")
        data_keys_forget()
        if failed:
            raise CommandError(f"Not re-wrapped: {', '.join(failed)}.")
