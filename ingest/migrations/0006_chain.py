from django.db import migrations

# The tenant's hash chain (ingest.sealing): its head (one row), the anchors retention leaves below the rows it
# removed, the unsealed events in sealing order (a partial index: only the few seconds' worth not sealed yet)
# and the sealed ones by position (verification walks it).
CHAIN = """
CREATE TABLE ingest_chain (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    sequence bigint NOT NULL DEFAULT 0,
    hash text NOT NULL,
    sealed_at timestamptz
);
INSERT INTO ingest_chain (id, hash) VALUES (1, repeat('0', 64));
CREATE TABLE ingest_chain_anchor (
    sequence bigint PRIMARY KEY,
    hash text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_event_unsealed ON ingest_event (received_at, id) WHERE sequence IS NULL;
CREATE INDEX ingest_event_sequence ON ingest_event (sequence) WHERE sequence IS NOT NULL;
"""
DROP_CHAIN = """
DROP INDEX ingest_event_sequence;
DROP INDEX ingest_event_unsealed;
DROP TABLE ingest_chain_anchor;
DROP TABLE ingest_chain;
"""


class Migration(migrations.Migration):
    dependencies = [("ingest", "0005_outbox_pending")]

    operations = [migrations.RunSQL(CHAIN, reverse_sql=DROP_CHAIN)]
