"""Alert rules: a filter of the list's language plus a condition, evaluated by the outbox relay,
notified by signed webhook and email (models in analytics.models.alerts)."""
