"""Shapes of the alert endpoints, for the OpenAPI document (input is checked by analytics.alerts.services)."""

from rest_framework import serializers

from ...models.alerts import AlertDelivery, AlertRule

FILTERS_HELP = (
    'The list\'s query parameters (GET /api/v1/logs), e.g. {"action": "LOGIN", "severity": "ERROR,CRITICAL", '
    '"metadata.outcome": "failure"}; `from`, `to`, `limit` and `cursor` are not accepted.'
)


class _Rule(serializers.Serializer):
    filters = serializers.DictField(child=serializers.CharField(), required=False, help_text=FILTERS_HELP)
    condition = serializers.ChoiceField(
        AlertRule.Condition.choices,
        required=False,
        help_text="every: each matching event (one firing per relay batch, listing its matches); threshold: at "
        "least threshold_count matches within window_seconds (then quiet for one window). Default every.",
    )
    threshold_count = serializers.IntegerField(min_value=1, max_value=100_000, required=False, allow_null=True)
    window_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600, required=False, allow_null=True)
    webhook_url = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="http(s) URL receiving a signed JSON POST per firing. Private addresses are refused unless "
        "the service allows them.",
    )
    emails = serializers.ListField(child=serializers.EmailField(), max_length=20, required=False, allow_null=True)
    enabled = serializers.BooleanField(required=False)
    muted_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Firings before this time are recorded as muted, nothing is sent."
    )


class AlertRuleIn(_Rule):
    name = serializers.CharField(max_length=200)


class AlertRulePatchIn(_Rule):
    name = serializers.CharField(max_length=200, required=False)
    rotate_secret = serializers.BooleanField(required=False, help_text="true: a new webhook secret.")


class AlertRuleOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    filters = serializers.DictField(child=serializers.CharField())
    condition = serializers.ChoiceField(AlertRule.Condition.choices)
    threshold_count = serializers.IntegerField(allow_null=True)
    window_seconds = serializers.IntegerField(allow_null=True)
    webhook_url = serializers.CharField(allow_blank=True)
    webhook_secret = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The HMAC-SHA256 key of the webhook signature (in the rule's own responses, not in the list).",
    )
    emails = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    muted_until = serializers.DateTimeField(allow_null=True)
    muted = serializers.BooleanField()
    created_by = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AlertRulePageOut(serializers.Serializer):
    results = AlertRuleOut(many=True)


class AttemptOut(serializers.Serializer):
    attempt = serializers.IntegerField()
    at = serializers.DateTimeField()
    response_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    duration_ms = serializers.FloatField()


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.ChoiceField(AlertDelivery.Channel.choices)
    target = serializers.CharField()
    status = serializers.ChoiceField(AlertDelivery.Status.choices)
    attempts = serializers.IntegerField()
    response_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    log = AttemptOut(many=True)


class FiringOut(serializers.Serializer):
    id = serializers.IntegerField()
    fired_at = serializers.DateTimeField()
    condition = serializers.ChoiceField(AlertRule.Condition.choices)
    match_count = serializers.IntegerField()
    event_ids = serializers.ListField(child=serializers.UUIDField())
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    muted = serializers.BooleanField()
    deliveries = DeliveryOut(many=True)


class FiringPageOut(serializers.Serializer):
    results = FiringOut(many=True)
    next = serializers.URLField(allow_null=True)
