import django.contrib.postgres.fields
from django.db import migrations, models

# On the partitioned parent: every partition, present and future, gets the column. A constant
# default needs no table rewrite, so the change is instant on a populated table.
ADD_COLUMN = "ALTER TABLE ingest_event ADD COLUMN masked_fields text[] NOT NULL DEFAULT '{}'"
DROP_COLUMN = "ALTER TABLE ingest_event DROP COLUMN masked_fields"


class Migration(migrations.Migration):
    dependencies = [("ingest", "0002_outbox")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_COLUMN, reverse_sql=DROP_COLUMN)],
            state_operations=[
                migrations.AddField(
                    model_name="event",
                    name="masked_fields",
                    field=django.contrib.postgres.fields.ArrayField(
                        base_field=models.TextField(), default=list, size=None
                    ),
                )
            ],
        )
    ]
