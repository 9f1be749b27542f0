"""Alert rules, their firings and the notifications sent for them (tenant schema).

A rule is a filter of the list's language (stored as the list's query parameters) plus a condition:
`every` matching event, or `threshold` (at least `threshold_count` matches within `window_seconds`).
The relay evaluates rules (analytics.alerts.evaluation); each firing gets one delivery per channel,
sent by Celery tasks (analytics.alerts.notifications) with every attempt logged on the delivery.
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

__all__ = ["AlertRule", "AlertFiring", "AlertDelivery"]


class AlertRule(models.Model):
    class Condition(models.TextChoices):
        EVERY = "every"
        THRESHOLD = "threshold"

    name = models.CharField(max_length=200)
    # The list's query parameters (GET /api/v1/logs), as search.filters.parse_filters normalised them.
    filters = models.JSONField(default=dict)
    condition = models.CharField(max_length=16, choices=Condition.choices, default=Condition.EVERY)
    threshold_count = models.PositiveIntegerField(null=True)
    window_seconds = models.PositiveIntegerField(null=True)
    webhook_url = models.CharField(max_length=2000, blank=True, default="")
    webhook_secret = models.CharField(max_length=128, blank=True, default="")
    emails = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    muted_until = models.DateTimeField(null=True)
    # The creator as an actor of the audit log (tenants.principal.Principal.actor): users live in the public schema.
    created_by = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "analytics"
        db_table = "analytics_alert_rule"
        indexes = [models.Index(fields=["enabled"], name="alert_rule_enabled")]

    def __str__(self):
        return self.name

    def is_muted(self, at=None) -> bool:
        return self.muted_until is not None and self.muted_until > (at or timezone.now())


class AlertFiring(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="firings")
    fired_at = models.DateTimeField(default=timezone.now)
    condition = models.CharField(max_length=16)
    match_count = models.PositiveIntegerField()
    # The matching events of this firing (every: those of the batch; threshold: the newest of the window), capped.
    event_ids = ArrayField(models.UUIDField(), default=list)
    window_start = models.DateTimeField(null=True)
    window_end = models.DateTimeField(null=True)
    muted = models.BooleanField(default=False)  # recorded while the rule was muted: nothing was sent

    class Meta:
        app_label = "analytics"
        db_table = "analytics_alert_firing"
        indexes = [
            models.Index(fields=["rule", "-id"], name="alert_firing_rule_id"),
            models.Index(fields=["rule", "condition", "-fired_at"], name="alert_firing_rule_fired"),
            GinIndex(fields=["event_ids"], name="alert_firing_event_ids"),
        ]

    def __str__(self):
        return f"{self.rule_id} at {self.fired_at:%Y-%m-%d %H:%M:%S}"


class AlertDelivery(models.Model):
    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    class Status(models.TextChoices):
        PENDING = "pending"
        RETRYING = "retrying"
        DELIVERED = "delivered"
        FAILED = "failed"

    firing = models.ForeignKey(AlertFiring, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.TextField()  # the webhook URL, or the email addresses (comma-separated)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True)
    error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True)
    # Every attempt: {"at", "response_code", "error", "duration_ms"}.
    log = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True)

    class Meta:
        app_label = "analytics"
        db_table = "analytics_alert_delivery"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alert_delivery_due")]

    def __str__(self):
        return f"{self.channel} {self.status}"
