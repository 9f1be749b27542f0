"""Monthly partitions of the event table, created ahead of time in the current tenant's schema."""

import logging
from datetime import date

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from auditlog.conf import auditlog_setting

logger = logging.getLogger(__name__)


def _month_add(d: date, months: int) -> date:
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def partition_months(today: date | None = None) -> list[date]:
    today = today or timezone.now().date()
    first = today.replace(day=1)
    behind = auditlog_setting("PARTITION_MONTHS_BEHIND")
    ahead = auditlog_setting("PARTITION_MONTHS_AHEAD")
    return [_month_add(first, m) for m in range(-behind, ahead + 1)]


def partitions_ensure(schema_editor_connection=None) -> list[str]:
    """Create the missing monthly partitions around today; returns the names created."""
    conn = schema_editor_connection or connection
    created = []
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE p.relname = 'ingest_event' AND n.nspname = current_schema()"
        )
        existing = {row[0] for row in cursor.fetchall()}
        for month in partition_months():
            name = f"ingest_event_p{month:%Y%m}"
            if name in existing:
                continue
            try:
                with transaction.atomic(using=conn.alias):
                    start, end = month.isoformat(), _month_add(month, 1).isoformat()
                    cursor.execute(
                        f"CREATE TABLE {name} PARTITION OF ingest_event "
                        f"FOR VALUES FROM ('{start} 00:00+00') TO ('{end} 00:00+00')"
                    )
                created.append(name)
            except DatabaseError:
                # Rows of that month already sit in the default partition; they stay there.
                logger.warning("partition %s not created in %s", name, conn.schema_name, exc_info=True)
    return created
