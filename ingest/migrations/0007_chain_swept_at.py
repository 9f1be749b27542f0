from django.db import migrations


class Migration(migrations.Migration):
    """When the sealer last looked for unsealed events below its frontier (ingest.sealing: the full sweep)."""

    dependencies = [("ingest", "0006_chain")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE ingest_chain ADD COLUMN swept_at timestamptz",
            "ALTER TABLE ingest_chain DROP COLUMN swept_at",
        )
    ]
