"""Statistics rollups (tenant schema): hourly event counts kept current by the outbox relay (analytics.rollups).

Two cubes, because one cube with the actor in it would hold about as many rows as the event table:
- DimensionRollup: per hour, action, severity, resource type and source (bounded vocabularies);
- ActorRollup: per hour, actor and whether the event belongs to the access trail (source `auditlog`).
RollupCounted remembers which events were counted, so a batch handed over twice is not counted twice.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models.functions import Now

__all__ = ["ActorRollup", "DimensionRollup", "RollupCounted"]


class DimensionRollup(models.Model):
    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField()  # the hour (UTC) the events occurred in
    action = models.TextField()
    severity = models.TextField()
    resource_type = models.TextField()
    source = models.TextField(null=True)
    count = models.BigIntegerField()

    class Meta:
        db_table = "analytics_rollup_dims"
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "action", "severity", "resource_type", "source"],
                name="analytics_rollup_dims_key",
                nulls_distinct=False,
            )
        ]

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d %H}h {self.action} {self.severity} {self.resource_type}: {self.count}"


class ActorRollup(models.Model):
    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField()
    actor_id = models.TextField()
    actor_type = models.TextField()
    trail = models.BooleanField()  # an event of the access trail (source `auditlog`)
    count = models.BigIntegerField()

    class Meta:
        db_table = "analytics_rollup_actors"
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "actor_id", "actor_type", "trail"], name="analytics_rollup_actors_key"
            )
        ]
        indexes = [models.Index(fields=["actor_id", "bucket"], name="analytics_rollup_actor_idx")]

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d %H}h {self.actor_type}:{self.actor_id}: {self.count}"


class RollupCounted(models.Model):
    """An event the rollups have counted; kept for a few days (a redelivery comes within minutes)."""

    event_id = models.UUIDField(primary_key=True)
    counted_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "analytics_rollup_counted"
        indexes = [
            # BRIN: counted_at grows with the rows, so pruning old markers reads few blocks.
            BrinIndex(fields=["counted_at"], name="analytics_rollup_counted_at")
        ]

    def __str__(self):
        return str(self.event_id)
