"""The event table (tenant schema) and the idempotency keys that guard it.

The event table is range-partitioned by month on occurred_at, so its real
primary key is (occurred_at, id); it is created by SQL in the migrations and
the model is unmanaged. An id alone cannot be unique across partitions, which
is why idempotency keys live in a table of their own.
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Now


class Severity(models.TextChoices):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class ActorType(models.TextChoices):
    USER = "user"
    SERVICE = "service"
    SYSTEM = "system"


class Event(models.Model):
    id = models.UUIDField(primary_key=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    actor_id = models.TextField()
    actor_type = models.TextField(choices=ActorType.choices)
    actor_name = models.TextField(null=True)
    actor_email = models.TextField(null=True)
    session_id = models.TextField(null=True)
    action = models.TextField()
    resource_type = models.TextField()
    resource_id = models.TextField(null=True)
    resource_name = models.TextField(null=True)
    severity = models.TextField(choices=Severity.choices)
    message = models.TextField(null=True)
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.TextField(null=True)
    request_id = models.TextField(null=True)
    correlation_id = models.TextField(null=True)
    changes = models.JSONField(null=True)
    changed_fields = ArrayField(models.TextField(), default=list)
    metadata = models.JSONField(default=dict)
    source = models.TextField(null=True)
    tags = ArrayField(models.TextField(), default=list)
    masked_fields = ArrayField(models.TextField(), default=list)  # dotted paths masked at ingest (ingest.masking)
    sequence = models.BigIntegerField(null=True)
    hash = models.TextField(null=True)

    class Meta:
        managed = False
        db_table = "ingest_event"
        ordering = ["-occurred_at", "-id"]

    def __str__(self):
        return f"{self.action} {self.resource_type} by {self.actor_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class IdempotencyKey(models.Model):
    """One row per client-supplied event_id or Idempotency-Key; its primary key makes repeats collide."""

    key = models.TextField(primary_key=True)
    event_id = models.UUIDField()
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ingest_idempotencykey"

    def __str__(self):
        return self.key


class OutboxEntry(models.Model):
    """One row per stored event, written in the event's transaction; the relay drains it."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField()
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(db_default=Now())
    done = ArrayField(models.TextField(), default=list)  # names of the relay handlers done with it
    # Names of the relay handlers still to run; NULL until a first one has run (ingest.relay).
    pending = ArrayField(models.TextField(), null=True)

    class Meta:
        db_table = "ingest_outbox"
        indexes = [  # a relay handler's pick (ingest.relay.PICK_SQL)
            GinIndex(fields=["pending"], name="ingest_outbox_pending"),
            models.Index(fields=["id"], condition=models.Q(pending__isnull=True), name="ingest_outbox_untouched"),
        ]

    def __str__(self):
        return f"outbox {self.id}: {self.event_id}"
