import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    """Relay progress per handler: each outbox entry names the handlers done with it."""

    dependencies = [
        ("ingest", "0003_event_masked_fields"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # A database default: ingest's own INSERTs name no such column.
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE ingest_outbox ADD COLUMN done text[] NOT NULL DEFAULT '{}'",
                    "ALTER TABLE ingest_outbox DROP COLUMN done",
                )
            ],
            state_operations=[
                migrations.AddField(
                    model_name="outboxentry",
                    name="done",
                    field=django.contrib.postgres.fields.ArrayField(
                        base_field=models.TextField(), default=list, size=None
                    ),
                )
            ],
        )
    ]
