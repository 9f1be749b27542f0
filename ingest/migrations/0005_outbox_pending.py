import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    """Relay picks by index: each outbox entry names the handlers still to run (`pending`, NULL until a first
    handler has run), so a handler's pick reads only its own work, never the entries a failing handler keeps."""

    dependencies = [
        ("ingest", "0004_outbox_done"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # Raw SQL: no default (ingest's own INSERTs name no such column; a new NULL column costs no rewrite),
            # a GIN index for "names this handler" and a partial one for "no handler has run yet".
            database_operations=[
                migrations.RunSQL(
                    [
                        "ALTER TABLE ingest_outbox ADD COLUMN pending text[]",
                        "CREATE INDEX ingest_outbox_pending ON ingest_outbox USING gin (pending) WITH (fastupdate = off)",
                        "CREATE INDEX ingest_outbox_untouched ON ingest_outbox (id) WHERE pending IS NULL",
                    ],
                    [
                        "DROP INDEX ingest_outbox_untouched",
                        "DROP INDEX ingest_outbox_pending",
                        "ALTER TABLE ingest_outbox DROP COLUMN pending",
                    ],
                )
            ],
            state_operations=[
                migrations.AddField(
                    model_name="outboxentry",
                    name="pending",
                    field=django.contrib.postgres.fields.ArrayField(
                        base_field=models.TextField(), null=True, size=None
                    ),
                ),
                migrations.AddIndex(
                    model_name="outboxentry",
                    index=django.contrib.postgres.indexes.GinIndex(fields=["pending"], name="ingest_outbox_pending"),
                ),
                migrations.AddIndex(
                    model_name="outboxentry",
                    index=models.Index(
                        condition=models.Q(pending__isnull=True), fields=["id"], name="ingest_outbox_untouched"
                    ),
                ),
            ],
        )
    ]
