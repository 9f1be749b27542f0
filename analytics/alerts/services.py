"""Writes of alert rules: create, update, delete, with validation that names fields.

A rule's filters are the list's query parameters (GET /api/v1/logs), parsed by search.filters.parse_filters
and stored normalised; webhook URLs are http(s) only, and, unless ALERT_WEBHOOK_ALLOW_PRIVATE, may not name
a private, loopback, link-local or reserved address (checked again, after name resolution, at delivery).
"""

import ipaddress
import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from auditlog.conf import auditlog_setting
from auditlog.errors import FieldErrors
from search.filters import EventFilter, parse_filters

from ..models.alerts import AlertRule

MAX_EMAILS = 20
MAX_WINDOW_SECONDS = 7 * 24 * 3600
MAX_THRESHOLD = 100_000
FIELDS = {"name", "filters", "condition", "threshold_count", "window_seconds", "webhook_url", "emails", "enabled",
          "muted_until", "rotate_secret"}  # fmt: skip


def secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def rule_filter(rule: AlertRule) -> EventFilter:
    """The rule's filter (its stored parameters were validated when written)."""
    f, _ = parse_filters(_as_query_dict(rule.filters))
    return f


def _as_query_dict(filters: dict) -> QueryDict:
    q = QueryDict(mutable=True)
    for name, value in filters.items():
        q[name] = value
    return q


def address_is_private(host: str) -> bool:
    """Whether a host (a literal address) is not a global unicast address."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _validate(data: dict, rule: AlertRule | None) -> dict:
    """The checked and normalised fields of a create (rule None) or a partial update."""
    errors: dict[str, list[str]] = {}
    out: dict = {}
    if not isinstance(data, dict):
        raise FieldErrors({"non_field_errors": ["A JSON object is expected."]})
    for name in data:
        if name not in FIELDS:
            errors.setdefault(name, []).append("Unknown field.")
    creating = rule is None

    if "name" in data or creating:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200 or "\x00" in name:
            errors.setdefault("name", []).append("Required: 1 to 200 characters.")
        else:
            out["name"] = name.strip()

    if "filters" in data:
        filters = data["filters"]
        if filters is None:
            filters = {}
        if not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values()):
            errors.setdefault("filters", []).append("An object of the list's query parameters, string values.")
        else:
            try:
                f, _ = parse_filters(_as_query_dict(filters))
            except FieldErrors as exc:
                for key, messages in exc.details.items():
                    errors.setdefault(f"filters.{key}", []).extend(messages)
            else:
                if f.time_from or f.time_to:
                    errors.setdefault("filters", []).append("'from' and 'to' have no meaning for an alert rule.")
                out["filters"] = f.as_params()
    elif creating:
        out["filters"] = {}

    condition = data.get("condition", rule.condition if rule else AlertRule.Condition.EVERY)
    if condition not in AlertRule.Condition.values:
        errors.setdefault("condition", []).append("One of every, threshold.")
    else:
        out["condition"] = condition
    for name, maximum in (("threshold_count", MAX_THRESHOLD), ("window_seconds", MAX_WINDOW_SECONDS)):
        if name in data:
            value = data[name]
            is_int = isinstance(value, int) and not isinstance(value, bool)
            if value is not None and (not is_int or not 1 <= value <= maximum):
                errors.setdefault(name, []).append(f"An integer from 1 to {maximum}.")
            else:
                out[name] = value
    if condition == AlertRule.Condition.THRESHOLD:
        for name in ("threshold_count", "window_seconds"):
            value = out.get(name, data.get(name, getattr(rule, name, None) if rule else None))
            if value is None and name not in errors:
                errors.setdefault(name, []).append("Required for a threshold rule.")
    elif condition == AlertRule.Condition.EVERY:
        out["threshold_count"] = None
        out["window_seconds"] = None

    if "webhook_url" in data:
        url = data["webhook_url"]
        if url in (None, ""):
            out["webhook_url"] = ""
        elif (message := _webhook_url_problem(url)) is not None:
            errors.setdefault("webhook_url", []).append(message)
        else:
            out["webhook_url"] = url

    if "emails" in data:
        emails = data["emails"]
        if emails is None:
            emails = []
        if not isinstance(emails, list) or len(emails) > MAX_EMAILS:
            errors.setdefault("emails", []).append(f"A list of up to {MAX_EMAILS} email addresses.")
        else:
            for index, email in enumerate(emails):
                try:
                    if not isinstance(email, str) or "\x00" in email:
                        raise ValidationError("bad")
                    validate_email(email)
                except ValidationError:
                    errors.setdefault(f"emails.{index}", []).append("Not an email address.")
            out["emails"] = list(dict.fromkeys(emails))

    for name in ("enabled", "rotate_secret"):
        if name in data and not isinstance(data[name], bool):
            errors.setdefault(name, []).append("true or false.")
        elif name in data:
            out[name] = data[name]

    if "muted_until" in data:
        value = data["muted_until"]
        if value is None:
            out["muted_until"] = None
        else:
            from django.utils.dateparse import parse_datetime

            try:
                parsed = parse_datetime(value) if isinstance(value, str) and "\x00" not in value else None
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                errors.setdefault("muted_until", []).append("An ISO 8601 time with offset, or null.")
            else:
                out["muted_until"] = parsed

    if not errors:
        webhook = out.get("webhook_url", rule.webhook_url if rule else "")
        emails = out.get("emails", rule.emails if rule else [])
        if not webhook and not emails:
            errors.setdefault("webhook_url", []).append("A rule needs a webhook URL or email addresses (or both).")
    if errors:
        raise FieldErrors(errors)
    return out


def _webhook_url_problem(url) -> str | None:
    if not isinstance(url, str) or len(url) > 2000 or "\x00" in url or any(c.isspace() for c in url):
        return "An http(s) URL of up to 2000 characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "Not a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Only http and https URLs are accepted."
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        return "Not a valid host name."
    if parts.username or parts.password:
        return "Credentials in the URL are not accepted; the request is signed."
    if not auditlog_setting("ALERT_WEBHOOK_ALLOW_PRIVATE") and (
        address_is_private(parts.hostname) or parts.hostname.rstrip(".").lower() == "localhost"
        or parts.hostname.rstrip(".").lower().endswith(".localhost")
    ):  # fmt: skip
        return "Private, loopback and link-local addresses are not accepted."
    return None


@transaction.atomic
def alert_rule_create(*, data: dict, created_by: dict) -> AlertRule:
    fields = _validate(data, None)
    fields.pop("rotate_secret", None)
    rule = AlertRule(**fields, created_by=created_by)
    if rule.webhook_url:
        rule.webhook_secret = secret_new()
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, data: dict) -> AlertRule:
    fields = _validate(data, rule)
    rotate = fields.pop("rotate_secret", False)
    for name, value in fields.items():
        setattr(rule, name, value)
    if rule.webhook_url and (rotate or not rule.webhook_secret):
        rule.webhook_secret = secret_new()
    rule.updated_at = timezone.now()
    rule.save()
    return rule


def alert_rule_delete(*, rule: AlertRule) -> None:
    rule.delete()
