"""Sending a firing's notifications: signed webhook POSTs and emails, retried with exponential backoff.

One Celery task per delivery (a firing has one per channel), taking its id. Each attempt is appended to the
delivery's log. A webhook answering 2xx is delivered; 408, 429, 5xx, a timeout or a connection error are
retried (ALERT_RETRY_BASE_SECONDS * 2^(attempt-1), capped at an hour) up to ALERT_DELIVERY_MAX_ATTEMPTS;
other answers (redirects are not followed) fail at once. A failing email is retried the same way.

The webhook body is JSON: the rule, the firing, and its first ALERT_EVENTS_PER_FIRING events as the API shows
them to an Auditor. Headers: `X-AuditLog-Timestamp` (Unix seconds) and `X-AuditLog-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the rule's webhook secret>`; `X-AuditLog-Delivery`
names the delivery (the same on every retry, so a receiver can drop repeats).
"""

import hashlib
import hmac
import ipaddress
import logging
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from celery import shared_task
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_tenant_model, tenant_context
from tenant_schemas_celery.task import TenantTask

from auditlog.conf import auditlog_setting
from auditlog.renderers import FastJSONRenderer
from search.audience import FULL, event_view
from search.selectors import event_get

from ..models.alerts import AlertDelivery, AlertFiring
from .services import address_is_private

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AuditLog-Signature"
TIMESTAMP_HEADER = "X-AuditLog-Timestamp"
DELIVERY_HEADER = "X-AuditLog-Delivery"
MAX_BACKOFF_SECONDS = 3600
RETRY_STATUSES = {408, 429}
ERROR_MAX_CHARS = 500


class Refused(Exception):
    """Not worth retrying (a refused address, a redirect, a 4xx answer)."""


class Transient(Exception):
    """Worth retrying (5xx, timeout, connection error, SMTP trouble)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def firing_payload(firing: AlertFiring) -> dict:
    rule = firing.rule
    limit = auditlog_setting("ALERT_EVENTS_PER_FIRING")
    events = []
    for event_id in firing.event_ids[:limit]:
        event = event_get(str(event_id))
        if event is not None:  # gone meanwhile (retention)
            events.append(event_view(event, FULL))
    return {
        "type": "alert.fired",
        "tenant": getattr(connection.tenant, "slug", connection.schema_name),
        "rule": {
            "id": rule.pk,
            "name": rule.name,
            "condition": rule.condition,
            "threshold_count": rule.threshold_count,
            "window_seconds": rule.window_seconds,
            "filters": rule.filters,
        },
        "firing": {
            "id": firing.pk,
            "fired_at": firing.fired_at,
            "match_count": firing.match_count,
            "window_start": firing.window_start,
            "window_end": firing.window_end,
        },
        "events": events,
        "events_omitted": max(firing.match_count - len(events), 0),
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _check_resolved(host: str, port: int) -> None:
    """Refuse a host resolving to a non-public address (unless ALERT_WEBHOOK_ALLOW_PRIVATE)."""
    if auditlog_setting("ALERT_WEBHOOK_ALLOW_PRIVATE"):
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise Transient(f"name resolution failed: {exc}")
    for info in infos:
        address = info[4][0].split("%")[0]
        if address_is_private(address) or ipaddress.ip_address(address).is_loopback:
            raise Refused(f"{host} resolves to a private address ({address}); refused")


def _send_webhook(delivery: AlertDelivery, body: bytes) -> int:
    rule = delivery.firing.rule
    parts = urlsplit(delivery.target)
    _check_resolved(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked when the rule was written
        delivery.target,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "AuditLog-Alerts/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(rule.webhook_secret, timestamp, body),
            DELIVERY_HEADER: str(delivery.pk),
        },
    )
    try:
        with _opener.open(request, timeout=auditlog_setting("ALERT_WEBHOOK_TIMEOUT_SECONDS")) as response:
            response.read(1024)
            return response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
        exc.close()
        if code >= 500 or code in RETRY_STATUSES:
            raise Transient(f"HTTP {code}") from None
        raise Refused(f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Transient(f"{type(reason).__name__}: {reason}"[:ERROR_MAX_CHARS]) from None


def _email(delivery: AlertDelivery, payload: dict) -> None:
    rule, firing = payload["rule"], payload["firing"]
    lines = [
        f'Alert rule "{rule["name"]}" fired at {firing["fired_at"].isoformat()}.',
        f"Condition: {rule['condition']}"
        + (f" (at least {rule['threshold_count']} in {rule['window_seconds']} s)" if rule["threshold_count"] else ""),
        f"Matching events: {firing['match_count']}",
        "",
    ]
    for e in payload["events"]:
        resource, actor = e["resource"].get("type"), e["actor"].get("id")
        lines.append(f"- {e['occurred_at']} {e['action']} {resource} by {actor} ({e['id']})")
    if payload["events_omitted"]:
        lines.append(f"... and {payload['events_omitted']} more.")
    try:
        send_mail(
            subject=f"[AuditLog] Alert: {rule['name']}"[:200],
            message="\n".join(lines),
            from_email=auditlog_setting("ALERT_EMAIL_FROM"),
            recipient_list=delivery.target.split(","),
        )
    except Exception as exc:  # noqa: BLE001 - any mail failure is retried, and logged on the delivery
        raise Transient(f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]) from None


def backoff_seconds(attempts: int) -> float:
    return min(auditlog_setting("ALERT_RETRY_BASE_SECONDS") * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)


def delivery_attempt(delivery_id: int) -> float | None:
    """Attempt a delivery once (if still due); returns the seconds until the next attempt, or None."""
    with transaction.atomic():
        delivery = (
            AlertDelivery.objects.select_for_update(of=("self",))
            .select_related("firing__rule")
            .filter(pk=delivery_id, status__in=[AlertDelivery.Status.PENDING, AlertDelivery.Status.RETRYING])
            .first()
        )
        if delivery is None:
            return None
        started = time.monotonic()
        at = timezone.now()
        code, error, retry = None, "", None
        try:
            payload = firing_payload(delivery.firing)
            if delivery.channel == AlertDelivery.Channel.WEBHOOK:
                code = _send_webhook(delivery, FastJSONRenderer().render(payload))
            else:
                _email(delivery, payload)
        except Transient as exc:
            error, retry = str(exc), True
        except Refused as exc:
            error, retry = str(exc), False
        except Exception as exc:  # noqa: BLE001 - whatever went wrong is logged on the delivery and retried
            logger.exception("alert delivery %s failed unexpectedly", delivery.pk)
            error, retry = f"{type(exc).__name__}: {exc}", True
        if error.startswith("HTTP "):
            code = int(error.split()[1])
        delivery.attempts += 1
        delivery.response_code = code
        delivery.error = error[:ERROR_MAX_CHARS]
        delivery.log = [
            *delivery.log,
            {
                "attempt": delivery.attempts,
                "at": at.isoformat(),
                "response_code": code,
                "error": error[:ERROR_MAX_CHARS],
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        ]
        delay = None
        if not error:
            delivery.status = AlertDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif retry and delivery.attempts < auditlog_setting("ALERT_DELIVERY_MAX_ATTEMPTS"):
            delay = backoff_seconds(delivery.attempts)
            delivery.status = AlertDelivery.Status.RETRYING
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        else:
            delivery.status = AlertDelivery.Status.FAILED
            delivery.next_attempt_at = None
        delivery.updated_at = timezone.now()
        delivery.save()
    if error:
        logger.warning("alert delivery %s in %s, attempt %d: %s", delivery.pk, connection.schema_name,
                       delivery.attempts, error)  # fmt: skip
    return delay


@shared_task(name="analytics.alert_deliver", base=TenantTask)
def alert_deliver(delivery_id: int):
    delay = delivery_attempt(delivery_id)
    if delay is not None:
        alert_deliver.apply_async((delivery_id,), countdown=delay)
    return delay


SWEEP_GRACE_SECONDS = 60


@shared_task(name="analytics.alert_deliveries_due", base=TenantTask)
def alert_deliveries_due():
    """Queue the deliveries overdue by more than a grace period (their task was lost: a worker died)."""
    cutoff = timezone.now() - timedelta(seconds=SWEEP_GRACE_SECONDS)
    due = AlertDelivery.objects.filter(
        status__in=[AlertDelivery.Status.PENDING, AlertDelivery.Status.RETRYING], next_attempt_at__lt=cutoff
    )
    due = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:1000])
    for pk in due:
        alert_deliver.delay(pk)
    return len(due)


@shared_task(name="analytics.alert_deliveries_due_all_tenants")
def alert_deliveries_due_all_tenants():
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            alert_deliveries_due.delay()
