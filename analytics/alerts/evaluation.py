"""Evaluating alert rules from the outbox relay, within seconds of commit.

The relay hands each batch of stored events to alerts_relay_handler inside the tenant's schema and a
transaction that also marks the batch done: the firings and deliveries written here commit with that mark
or not at all. Handed the same events again, a rule fires nothing twice: `every` skips the events a firing
of the rule already lists, `threshold` is quiet for a window after firing. Notifications are queued only
once that transaction has committed.

- `every`: one firing per rule and batch, listing the batch's matching events.
- `threshold`: when a batch holds a match, the matches of the last `window_seconds` (by occurred_at, counted
  in SQL over the event table with the same filter) are counted; at least `threshold_count` fires. The rule
  then stays quiet for one window: it re-arms `window_seconds` after its last firing, and the next firing
  counts only the window before it, so two firings never count the same event.
- A muted rule (muted_until in the future) records its firings with `muted` set and sends nothing.

Rules are read once per batch (one indexed query over a small table); their parsed filters are cached per
process by (schema, rule id, updated_at), so an edited rule applies to the next batch in every process.
"""

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from ingest.models import Event
from ingest.representation import event_json
from search.backends.postgres import filtered
from search.filters import EventFilter
from search.matching import event_matches

from ..models.alerts import AlertDelivery, AlertFiring, AlertRule
from .services import rule_filter

logger = logging.getLogger(__name__)

RELAY_HANDLER_NAME = "alerts"
MAX_EVENT_IDS = 500  # stored per firing
_FILTER_CACHE_MAX = 4096
_filters: dict[tuple, EventFilter] = {}


def _filter_of(rule: AlertRule) -> EventFilter:
    key = (connection.schema_name, rule.pk, rule.updated_at)
    f = _filters.get(key)
    if f is None:
        if len(_filters) >= _FILTER_CACHE_MAX:
            _filters.clear()
        f = _filters[key] = rule_filter(rule)
    return f


def alerts_relay_handler(events: list[Event]) -> None:
    """Outbox handler: match the batch against the tenant's enabled rules; record firings and queue deliveries."""
    if not events:
        return
    rules = list(AlertRule.objects.filter(enabled=True).order_by("id"))
    if not rules:
        return
    now = timezone.now()
    shaped = sorted((event_json(e) for e in events), key=lambda e: (e["occurred_at"], str(e["id"])))
    for rule in rules:
        f = _filter_of(rule)
        matched = [e["id"] for e in shaped if event_matches(f, e)]
        if not matched:
            continue
        if rule.condition == AlertRule.Condition.EVERY:
            matched = _not_yet_fired(rule, matched)
            if matched:
                _fire(rule, now=now, match_count=len(matched), event_ids=matched[:MAX_EVENT_IDS])
        else:
            _threshold(rule, f, now=now)


def _threshold(rule: AlertRule, f: EventFilter, *, now) -> None:
    window_start = now - timedelta(seconds=rule.window_seconds)
    if _fired_since(rule, window_start):
        return
    in_window = filtered(f).filter(occurred_at__gte=window_start)
    if in_window[: rule.threshold_count].count() < rule.threshold_count:
        return
    # Concurrent relays of the tenant: the rule's row lock lets one of them fire for this window.
    AlertRule.objects.select_for_update().filter(pk=rule.pk).first()
    if _fired_since(rule, window_start):
        return
    count = in_window.count()
    ids = list(in_window.order_by("-occurred_at", "-id").values_list("id", flat=True)[:MAX_EVENT_IDS])
    _fire(rule, now=now, match_count=count, event_ids=ids[::-1], window=(window_start, now))


def _not_yet_fired(rule: AlertRule, event_ids: list) -> list:
    """The events no firing of the rule lists yet (a batch handed over again fires nothing twice)."""
    fired = set()
    for ids in AlertFiring.objects.filter(rule=rule, event_ids__overlap=event_ids).values_list("event_ids", flat=True):
        fired.update(ids)
    return [i for i in event_ids if i not in fired]


def _fired_since(rule: AlertRule, since) -> bool:
    return AlertFiring.objects.filter(rule=rule, condition=AlertRule.Condition.THRESHOLD, fired_at__gt=since).exists()


def _fire(rule: AlertRule, *, now, match_count: int, event_ids: list, window=(None, None)) -> AlertFiring:
    muted = rule.is_muted(now)
    firing = AlertFiring.objects.create(
        rule=rule,
        fired_at=now,
        condition=rule.condition,
        match_count=match_count,
        event_ids=event_ids,
        window_start=window[0],
        window_end=window[1],
        muted=muted,
    )
    if muted:
        return firing
    channels = [(AlertDelivery.Channel.WEBHOOK, rule.webhook_url), (AlertDelivery.Channel.EMAIL, ",".join(rule.emails))]
    deliveries = [
        AlertDelivery(firing=firing, channel=channel, target=target, next_attempt_at=now)
        for channel, target in channels
        if target
    ]
    AlertDelivery.objects.bulk_create(deliveries)
    if deliveries:
        from .notifications import alert_deliver

        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: [alert_deliver.delay(pk) for pk in ids])
    logger.info("alert rule %s fired in %s (%d matches)", rule.pk, connection.schema_name, match_count)
    return firing
