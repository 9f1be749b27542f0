"""Monthly partitions: created ahead by the periodic task, never failing on rows already in the default one."""

from datetime import date

from django.conf import settings
from django.db import connection
from django.test import override_settings

from ingest.partitions import partition_months, partitions_ensure
from ingest.tasks import ensure_partitions_all_tenants


def partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE p.relname = 'ingest_event' AND n.nspname = current_schema()"
        )
        return {row[0] for row in cursor.fetchall()}


def test_partition_months_span_behind_and_ahead():
    months = partition_months(date(2026, 12, 15))
    assert months[0] == date(2026, 9, 1) and months[-1] == date(2027, 2, 1)
    assert len(months) == 6


def test_periodic_task_recreates_missing_partitions_in_every_tenant(world):
    newest = f"ingest_event_p{partition_months()[-1]:%Y%m}"
    for tw in (world.acme, world.globex):
        connection.set_tenant(tw.tenant)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {newest}")
        assert newest not in partitions()
    ensure_partitions_all_tenants()
    for tw in (world.acme, world.globex):
        connection.set_tenant(tw.tenant)
        assert newest in partitions()
    connection.set_schema_to_public()


def test_rows_in_the_default_partition_do_not_break_upkeep(world, api, make_event, marker):
    far = partition_months()[-1].replace(year=partition_months()[-1].year + 1)
    connection.set_tenant(world.acme.tenant)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ingest_event (id, occurred_at, received_at, actor_id, actor_type, action, resource_type, "
            "severity, source) VALUES (gen_random_uuid(), %s, now(), 'a', 'user', 'X', 't', 'INFO', %s)",
            [f"{far.isoformat()} 12:00+00", marker],
        )
    with override_settings(AUDITLOG={**settings.AUDITLOG, "PARTITION_MONTHS_AHEAD": 14}):
        created = partitions_ensure()
    assert f"ingest_event_p{far:%Y%m}" not in created
    assert f"ingest_event_p{far:%Y%m}" not in partitions()
    assert len(created) >= 10
    connection.set_schema_to_public()
