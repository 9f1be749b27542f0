import django.contrib.postgres.fields
from django.db import migrations, models

EVENT_TABLE = """
CREATE TABLE ingest_event (
    id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    actor_id text NOT NULL,
    actor_type text NOT NULL,
    actor_name text,
    actor_email text,
    session_id text,
    action text NOT NULL,
    resource_type text NOT NULL,
    resource_id text,
    resource_name text,
    severity text NOT NULL,
    message text,
    ip inet,
    user_agent text,
    request_id text,
    correlation_id text,
    changes jsonb,
    changed_fields text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    source text,
    tags text[] NOT NULL DEFAULT '{}',
    sequence bigint,
    hash text,
    search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', coalesce(message, ''))
        || jsonb_to_tsvector('simple', metadata, '["string", "numeric"]')
    ) STORED,
    PRIMARY KEY (occurred_at, id)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE ingest_event_default PARTITION OF ingest_event DEFAULT;

-- Newest-first pages walk the primary key (occurred_at, id) backwards; each
-- filter column gets (column, occurred_at, id) so a filtered first page is an
-- index range read, whatever the filter's selectivity.
CREATE INDEX ingest_event_id ON ingest_event (id);
CREATE INDEX ingest_event_actor ON ingest_event (actor_id, occurred_at, id);
CREATE INDEX ingest_event_action ON ingest_event (action, occurred_at, id);
CREATE INDEX ingest_event_rtype ON ingest_event (resource_type, occurred_at, id);
CREATE INDEX ingest_event_rid ON ingest_event (resource_id, occurred_at, id) WHERE resource_id IS NOT NULL;
CREATE INDEX ingest_event_severity ON ingest_event (severity, occurred_at, id);
CREATE INDEX ingest_event_source ON ingest_event (source, occurred_at, id) WHERE source IS NOT NULL;
CREATE INDEX ingest_event_corr ON ingest_event (correlation_id, occurred_at, id) WHERE correlation_id IS NOT NULL;
CREATE INDEX ingest_event_req ON ingest_event (request_id, occurred_at, id) WHERE request_id IS NOT NULL;
CREATE INDEX ingest_event_sess ON ingest_event (session_id, occurred_at, id) WHERE session_id IS NOT NULL;
CREATE INDEX ingest_event_ip ON ingest_event (ip, occurred_at, id) WHERE ip IS NOT NULL;
CREATE INDEX ingest_event_tags ON ingest_event USING gin (tags);
CREATE INDEX ingest_event_fts ON ingest_event USING gin (search_vector);
CREATE INDEX ingest_event_meta ON ingest_event USING gin (metadata jsonb_path_ops);
"""


def create_partitions(apps, schema_editor):
    from ingest.partitions import partitions_ensure

    partitions_ensure(schema_editor.connection)


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="Event",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("occurred_at", models.DateTimeField()),
                ("received_at", models.DateTimeField()),
                ("actor_id", models.TextField()),
                ("actor_type", models.TextField(choices=[("user", "User"), ("service", "Service"), ("system", "System")])),
                ("actor_name", models.TextField(null=True)),
                ("actor_email", models.TextField(null=True)),
                ("session_id", models.TextField(null=True)),
                ("action", models.TextField()),
                ("resource_type", models.TextField()),
                ("resource_id", models.TextField(null=True)),
                ("resource_name", models.TextField(null=True)),
                ("severity", models.TextField(choices=[("INFO", "Info"), ("WARNING", "Warning"), ("ERROR", "Error"), ("CRITICAL", "Critical")])),
                ("message", models.TextField(null=True)),
                ("ip", models.GenericIPAddressField(null=True)),
                ("user_agent", models.TextField(null=True)),
                ("request_id", models.TextField(null=True)),
                ("correlation_id", models.TextField(null=True)),
                ("changes", models.JSONField(null=True)),
                ("changed_fields", django.contrib.postgres.fields.ArrayField(base_field=models.TextField(), default=list, size=None)),
                ("metadata", models.JSONField(default=dict)),
                ("source", models.TextField(null=True)),
                ("tags", django.contrib.postgres.fields.ArrayField(base_field=models.TextField(), default=list, size=None)),
                ("sequence", models.BigIntegerField(null=True)),
                ("hash", models.TextField(null=True)),
            ],
            options={"db_table": "ingest_event", "ordering": ["-occurred_at", "-id"], "managed": False},
        ),
        migrations.RunSQL(EVENT_TABLE, reverse_sql="DROP TABLE ingest_event CASCADE;"),
        migrations.RunPython(create_partitions, migrations.RunPython.noop),
        migrations.CreateModel(
            name="IdempotencyKey",
            fields=[
                ("key", models.TextField(primary_key=True, serialize=False)),
                ("event_id", models.UUIDField()),
                ("occurred_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "ingest_idempotencykey"},
        ),
    ]
