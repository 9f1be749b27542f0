"""Statistics rollups (tenant schema): hourly event counts kept current by the outbox relay (analytics.rollups).

Counts per dimension, not a cube of all dimensions together: measured on the benchmark's data set (1.19 M
events over 60 days, 20 actions x 4 severities x 33 resource types x 11 sources, 10,000 actors), an hourly
cube of action, severity, resource type and source held 722,000 rows, and one with the actor 1 M, about as
many as the events, so it was no faster to read. Per dimension:
- ValueRollup: per hour, dimension (action, severity, resource_type, source) and value: ~70 rows an hour;
- ActorRollup: per day, actor (the long tail: a row per active actor and day), and ActorMonthRollup the
  same per month, for long ranges.
- CubeRollup: per day, the counts of every combination of the values of one, two, three or all four of those
  dimensions (the 15 cuboids of a data cube), for questions filtered by dimensions. Per day, not per hour:
  measured on 10 M events over 60 days (~167,000 a day), a day holds ~23,800 rows of all cuboids together
  (12,300 of them of the four dimensions), bounded by the combinations seen in a day rather than by the events,
  while an hourly cube held 1.05 M rows for 2.5 M events. A question filtered on the dimensions in F reads,
  for each other dimension X, only the rows of the cuboid F+X with F's values: a few to a few hundred a day.
- ActorValueRollup (per day) and ActorValueMonthRollup (per month): per actor and value of one dimension, for the
  top actors of a question filtered on one dimension: ~143,000 rows a day and ~560,000 a month on the 10 M
  events (about one row per event by the day: the price of exact top actors over any range of whole days).
- The facts (analytics_stats_fact, a table without a model): one narrow row per event, its `occurred_at`, its
  Combination (of action, severity, resource type, source and actor type) and its StatsActor, read by one index
  on (combination, occurred_at) that includes the actor. They answer exactly, at any time grain, what the
  rollups cannot: the top actors and series under several dimensions, actor types, ranges with partial days.
  A question's dimensions select its combinations in the small Combination table (87,000 at most on the
  benchmark's data), so finding its events is one index range per combination instead of intersecting the
  event table's single-column indexes. ~40 bytes and an index entry per event, no update: an insert.
Each rollup's key index includes its count, so a question reads its rows from the index alone (index-only scans):
the rows of one value and period lie together there, while in the table they are scattered by arrival order.
All keep whether the events belong to the access trail (source `auditlog`), which Users do not count.
RollupCounted remembers which events were counted, so a batch handed over twice is not counted twice.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models.functions import Now

__all__ = [
    "ActorMonthRollup",
    "ActorRollup",
    "ActorValueMonthRollup",
    "ActorValueRollup",
    "Combination",
    "CubeRollup",
    "RollupCounted",
    "StatsActor",
    "ValueRollup",
]


class ValueRollup(models.Model):
    """Per hour, one dimension's value (action, severity, resource type or source) and its count."""

    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField()  # the hour (UTC) the events occurred in
    dimension = models.TextField()  # action, severity, resource_type or source
    value = models.TextField(null=True)  # a source may be missing
    trail = models.BooleanField()  # events of the access trail (source `auditlog`)
    count = models.BigIntegerField()

    class Meta:
        db_table = "analytics_rollup_values"
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "dimension", "value", "trail"],
                name="analytics_rollup_values_key",
                include=["count"],
                nulls_distinct=False,
            )
        ]

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d %H}h {self.dimension}={self.value}: {self.count}"


class ActorRollup(models.Model):
    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField()  # the day (UTC) the events occurred in
    actor_id = models.TextField()
    actor_type = models.TextField()
    trail = models.BooleanField()  # an event of the access trail (source `auditlog`)
    count = models.BigIntegerField()

    class Meta:
        db_table = "analytics_rollup_actors"
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "actor_id", "actor_type", "trail"],
                name="analytics_rollup_actors_key",
                include=["count"],
            )
        ]
        indexes = [models.Index(fields=["actor_id", "bucket"], name="analytics_rollup_actor_idx")]

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d} {self.actor_type}:{self.actor_id}: {self.count}"


class ActorMonthRollup(models.Model):
    """ActorRollup by the month (UTC): the top actors of a long range read ~10 times fewer rows."""

    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField()  # the first day of the month
    actor_id = models.TextField()
    actor_type = models.TextField()
    trail = models.BooleanField()
    count = models.BigIntegerField()

    class Meta:
        db_table = "analytics_rollup_actor_months"
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "actor_id", "actor_type", "trail"],
                name="analytics_rollup_actor_months_key",
                include=["count"],
            )
        ]

    def __str__(self):
        return f"{self.bucket:%Y-%m} {self.actor_type}:{self.actor_id}: {self.count}"


class CubeRollup(models.Model):
    """Per day, one cuboid (`kept`: the dimensions it keeps) and one combination of their values, and its count.

    A dimension the cuboid does not keep is NULL; a kept source of events without one is '' (the service
    stores no empty source), so every kept column is an equality an index can seek on."""

    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField()  # the day (UTC) the events occurred in
    kept = models.SmallIntegerField()  # bits: action 8, severity 4, resource_type 2, source 1
    action = models.TextField(null=True)
    severity = models.TextField(null=True)
    resource_type = models.TextField(null=True)
    source = models.TextField(null=True)
    trail = models.BooleanField()  # events of the access trail (source `auditlog`)
    count = models.BigIntegerField()

    class Meta:
        db_table = "analytics_rollup_cube"
        constraints = [
            # The bucket last: a question seeks each combination of its values, then reads its days.
            models.UniqueConstraint(
                fields=["kept", "action", "severity", "resource_type", "source", "trail", "bucket"],
                name="analytics_rollup_cube_key",
                include=["count"],
                nulls_distinct=False,
            )
        ]

    def __str__(self):
        values = [v for v in (self.action, self.severity, self.resource_type, self.source) if v is not None]
        return f"{self.bucket:%Y-%m-%d} {'/'.join(values)}: {self.count}"


class _ActorValueCounts(models.Model):
    """Per period, one dimension's value and one actor, and its count (the period is the subclass's)."""

    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField()  # the period's first instant (UTC)
    dimension = models.TextField()  # action, severity, resource_type or source
    value = models.TextField(null=True)  # a source may be missing
    actor_id = models.TextField()
    actor_type = models.TextField()
    trail = models.BooleanField()
    count = models.BigIntegerField()

    # A question seeks its dimension and value, then reads the periods of its range.
    KEY = ["dimension", "value", "bucket", "actor_id", "actor_type", "trail"]
    PERIOD_FORMAT = "%Y-%m-%d"

    class Meta:
        abstract = True

    def __str__(self):
        period = f"{self.bucket:{self.PERIOD_FORMAT}}"
        return f"{period} {self.dimension}={self.value} {self.actor_type}:{self.actor_id}: {self.count}"


class ActorValueRollup(_ActorValueCounts):
    """Per day, one dimension's value and one actor, and its count."""

    class Meta:
        db_table = "analytics_rollup_actor_values"
        constraints = [
            models.UniqueConstraint(
                fields=_ActorValueCounts.KEY,
                name="analytics_rollup_actor_values_key",
                nulls_distinct=False,
                include=["count"],
            )
        ]


class ActorValueMonthRollup(_ActorValueCounts):
    """ActorValueRollup by the month (UTC), for the whole months of long ranges."""

    PERIOD_FORMAT = "%Y-%m"

    class Meta:
        db_table = "analytics_rollup_actor_value_months"
        constraints = [
            models.UniqueConstraint(
                fields=_ActorValueCounts.KEY,
                name="analytics_rollup_actor_value_months_key",
                nulls_distinct=False,
                include=["count"],
            )
        ]


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


class Combination(models.Model):
    """A combination of the values of action, severity, resource type, source and actor type seen in the events.

    A missing source is '' (the service stores no empty one), so the key is all equalities."""

    id = models.AutoField(primary_key=True)
    action = models.TextField()
    severity = models.TextField()
    resource_type = models.TextField()
    source = models.TextField()
    actor_type = models.TextField()
    trail = models.BooleanField()  # events of the access trail (source `auditlog`)

    class Meta:
        db_table = "analytics_stats_combination"
        constraints = [
            models.UniqueConstraint(
                fields=["action", "severity", "resource_type", "source", "actor_type"],
                name="analytics_stats_combination_key",
            )
        ]

    def __str__(self):
        return f"{self.action}/{self.severity}/{self.resource_type}/{self.source}/{self.actor_type}"


class StatsActor(models.Model):
    """An actor seen in the events, numbered for the facts."""

    id = models.AutoField(primary_key=True)
    actor_id = models.TextField()
    actor_type = models.TextField()

    class Meta:
        db_table = "analytics_stats_actor"
        constraints = [models.UniqueConstraint(fields=["actor_id", "actor_type"], name="analytics_stats_actor_key")]

    def __str__(self):
        return f"{self.actor_type}:{self.actor_id}"
