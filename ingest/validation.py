"""Validate and normalise incoming events (SPEC "Event (v1)") into flat rows.

Hand-written rather than DRF serializers: bulk requests validate up to 1,000
events per call, and every error must name its field path.
"""

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import orjson

from auditlog.conf import auditlog_setting

from .crypto import ENC
from .models import ActorType, Severity

ACTION_RE = re.compile(r"^[A-Z][A-Z0-9_.:-]{0,63}$")
# C0 controls but tab, newline and carriage return; DEL; C1 controls. Stripped from every string of an event
# (keys too) before masking and storage: they hide text from people and detectors, and PostgreSQL refuses NUL.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

TOP_FIELDS = {
    "event_id",
    "tenant_id",
    "occurred_at",
    "actor",
    "action",
    "resource",
    "severity",
    "message",
    "context",
    "changes",
    "metadata",
    "source",
    "tags",
}
ACTOR_FIELDS = {"id", "type", "name", "email", "session_id"}
RESOURCE_FIELDS = {"type", "id", "name"}
CONTEXT_FIELDS = {"ip", "user_agent", "request_id", "correlation_id"}
CHANGES_FIELDS = {"before", "after"}

ACTOR_TYPES = frozenset(ActorType.values)
SEVERITIES = frozenset(Severity.values)
SHORT = 256  # ids, names, types
UA_MAX = 1024
TAG_MAX = 64
JSON_KEY_MAX = 256  # metadata and changes keys
JSON_STRING_MAX = 4096  # metadata and changes string values
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


@dataclass(frozen=True)
class Limits:
    """The size limits an event is checked against (SPEC defaults; per tenant later)."""

    message_bytes: int
    metadata_bytes: int
    depth: int
    tags: int
    future_skew: timedelta

    @classmethod
    def current(cls) -> "Limits":
        return cls(
            message_bytes=auditlog_setting("MESSAGE_MAX_BYTES"),
            metadata_bytes=auditlog_setting("METADATA_MAX_BYTES"),
            depth=auditlog_setting("METADATA_MAX_DEPTH"),
            tags=auditlog_setting("TAGS_MAX"),
            future_skew=timedelta(seconds=auditlog_setting("FUTURE_SKEW_SECONDS")),
        )


class EventInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class _Collector:
    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str):
        self.errors.setdefault(path, []).append(message)


def _text(c: _Collector, obj: dict, key: str, path: str, *, max_len: int = SHORT, required=False):
    value = obj.get(key)
    if value is None:
        if required:
            c.add(path, "This field is required.")
        return None
    if not isinstance(value, str):
        c.add(path, "Must be a string.")
        return None
    value = _without_controls(value).strip()
    if required and not value:
        c.add(path, "May not be blank.")
        return None
    if (len(value) if value.isascii() else len(value.encode())) > max_len:
        c.add(path, f"At most {max_len} bytes.")
        return None
    return value or None


def _without_controls(value: str) -> str:
    # Printable ASCII has no control character: most strings skip the regular expression.
    return value if value.isascii() and value.isprintable() else CONTROL_RE.sub("", value)


def _object(c: _Collector, body: dict, key: str, allowed: set[str], *, required=False) -> dict | None:
    value = body.get(key)
    if value is None:
        if required:
            c.add(key, "This field is required.")
        return None
    if not isinstance(value, dict):
        c.add(key, "Must be an object.")
        return None
    if not allowed.issuperset(value):
        for name in sorted(set(value) - allowed):
            c.add(f"{key}.{name}", "Unknown field.")
    return value


def _depth(value, limit: int) -> bool:
    """True when value nests no deeper than limit (objects and arrays count as levels), counted level by level."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return False
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
    return True


def _clean_json(c: _Collector, value, path: str):
    """Strip control characters from every string (keys too) of a JSON value, and check their lengths; an error
    names the path of the key or value (e.g. metadata.user.name, changes.after.items.2)."""
    if isinstance(value, str):
        value = _without_controls(value)
        # A character is at most 4 bytes in UTF-8: most strings are short enough to skip encoding them.
        if len(value) > JSON_STRING_MAX // 4 and len(value.encode()) > JSON_STRING_MAX:
            c.add(path, f"At most {JSON_STRING_MAX} bytes.")
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = _without_controls(key)
            if len(key) > JSON_KEY_MAX // 4 and len(key.encode()) > JSON_KEY_MAX:
                c.add(f"{path}.{key[:32]}…", f"Keys are at most {JSON_KEY_MAX} bytes.")
            elif key == ENC:  # a client's value must never pass for one the service encrypted
                c.add(f"{path}.{key}", "This key is reserved for encrypted values.")
            out[key] = _clean_json(c, item, f"{path}.{key}")
        return out
    if isinstance(value, list):
        return [_clean_json(c, item, f"{path}.{index}") for index, item in enumerate(value)]
    return value


@lru_cache(maxsize=4096)
def _ip_normal(text: str) -> str | None:
    """The address in its normal form, or None when it is not one (clients repeat addresses: parsed once each)."""
    if "%" in text:  # a scoped IPv6 address (fe80::1%eth0) is local to a host
        return None
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def changed_fields_of(before, after, prefix: str = "") -> list[str]:
    """Dotted paths whose values differ between before and after (nested objects are walked)."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    out = []
    for key in sorted(set(before) | set(after)):
        path = f"{prefix}{key}"
        b, a = before.get(key, _MISSING), after.get(key, _MISSING)
        if isinstance(b, dict) and isinstance(a, dict):
            out.extend(changed_fields_of(b, a, path + "."))
        elif b != a or type(b) is not type(a):
            out.append(path)
    return out


_MISSING = object()


def parse_time(value) -> datetime:
    if not isinstance(value, str):
        raise ValueError("Must be an ISO 8601 string with a UTC offset.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError("Not a valid ISO 8601 date-time.") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("Naive time: give a UTC offset (e.g. 'Z' or '+02:00').")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past the last representable time
        raise ValueError("Out of range: years 1 to 9999 in UTC.") from None


def validate_event(body, *, tenant_slug: str, now: datetime, limits: Limits | None = None) -> dict:
    """One request event -> a normalised row dict, or EventInvalid with field-level errors."""
    limits = limits or Limits.current()
    c = _Collector()
    if not isinstance(body, dict):
        raise EventInvalid({"non_field_errors": ["Expected a JSON object."]})
    if not TOP_FIELDS.issuperset(body):
        for name in sorted(set(body) - TOP_FIELDS):
            c.add(name, "Unknown field.")

    row: dict = {"received_at": now}

    event_id = body.get("event_id")
    if event_id is not None:
        try:
            if not isinstance(event_id, str):
                raise ValueError
            row["id"] = uuid.UUID(event_id)
            row["client_event_id"] = True
        except ValueError:
            c.add("event_id", "Must be a UUID.")

    row["tenant_id"] = _text(c, body, "tenant_id", "tenant_id")

    occurred_at = body.get("occurred_at")
    if occurred_at is None:
        row["occurred_at"] = now
    else:
        try:
            parsed = parse_time(occurred_at)
            if parsed > now + limits.future_skew:
                c.add("occurred_at", "More than 5 minutes in the future.")
            elif parsed.year < 1970:
                c.add("occurred_at", "Before 1970.")
            row["occurred_at"] = parsed
        except ValueError as exc:
            c.add("occurred_at", str(exc))

    actor = _object(c, body, "actor", ACTOR_FIELDS, required=True)
    if actor is not None:
        row["actor_id"] = _text(c, actor, "id", "actor.id", required=True)
        actor_type = actor.get("type", ActorType.USER)
        if not isinstance(actor_type, str) or actor_type not in ACTOR_TYPES:
            c.add("actor.type", f"One of {', '.join(ActorType.values)}.")
        row["actor_type"] = actor_type
        row["actor_name"] = _text(c, actor, "name", "actor.name")
        email = _text(c, actor, "email", "actor.email", max_len=254)
        if email is not None and not EMAIL_RE.match(email):
            c.add("actor.email", "Not a valid email address.")
        row["actor_email"] = email
        row["session_id"] = _text(c, actor, "session_id", "actor.session_id")

    action = body.get("action")
    if action is None:
        c.add("action", "This field is required.")
    elif not isinstance(action, str):
        c.add("action", "Must be a string.")
    else:
        action = action.strip().upper()
        if not ACTION_RE.match(action):
            c.add("action", "Must match ^[A-Z][A-Z0-9_.:-]{0,63}$ (after upper-casing).")
        row["action"] = action

    resource = _object(c, body, "resource", RESOURCE_FIELDS, required=True)
    if resource is not None:
        row["resource_type"] = _text(c, resource, "type", "resource.type", required=True, max_len=64)
        row["resource_id"] = _text(c, resource, "id", "resource.id")
        row["resource_name"] = _text(c, resource, "name", "resource.name")

    severity = body.get("severity", Severity.INFO)
    if isinstance(severity, str):
        severity = severity.strip().upper()
    if not isinstance(severity, str) or severity not in SEVERITIES:
        c.add("severity", f"One of {', '.join(Severity.values)}.")
    row["severity"] = severity

    row["message"] = _text(c, body, "message", "message", max_len=limits.message_bytes)

    context = _object(c, body, "context", CONTEXT_FIELDS) or {}
    ip = context.get("ip")
    if ip is not None:
        ip = _ip_normal(ip) if isinstance(ip, str) else None
        if ip is None:
            c.add("context.ip", "Not a valid IPv4 or IPv6 address.")
    row["ip"] = ip
    row["user_agent"] = _text(c, context, "user_agent", "context.user_agent", max_len=UA_MAX)
    row["request_id"] = _text(c, context, "request_id", "context.request_id")
    row["correlation_id"] = _text(c, context, "correlation_id", "context.correlation_id")

    changes = _object(c, body, "changes", CHANGES_FIELDS)
    row["changes"] = None
    row["changed_fields"] = []
    if changes is not None:
        for side in ("before", "after"):
            value = changes.get(side)
            if value is not None and not isinstance(value, dict):
                c.add(f"changes.{side}", "Must be an object or null.")
            elif value is not None and not _depth(value, limits.depth):
                c.add(f"changes.{side}", f"Nested deeper than {limits.depth} levels.")
        if not any(p.startswith("changes.") for p in c.errors):
            before = _clean_json(c, changes.get("before"), "changes.before")
            after = _clean_json(c, changes.get("after"), "changes.after")
            if len(orjson.dumps([before, after])) > limits.metadata_bytes * 2:
                c.add("changes", f"At most {limits.metadata_bytes * 2} bytes as JSON.")
            row["changes"] = {"before": before, "after": after}
            row["changed_fields"] = changed_fields_of(before, after)

    metadata = body.get("metadata")
    row["metadata"] = {}
    if metadata is not None:
        if not isinstance(metadata, dict):
            c.add("metadata", "Must be an object.")
        elif not _depth(metadata, limits.depth):
            c.add("metadata", f"Nested deeper than {limits.depth} levels.")
        else:
            metadata = _clean_json(c, metadata, "metadata")
            if len(orjson.dumps(metadata)) > limits.metadata_bytes:
                c.add("metadata", f"At most {limits.metadata_bytes} bytes as JSON.")
            row["metadata"] = metadata

    row["source"] = _text(c, body, "source", "source", max_len=128)

    tags = body.get("tags")
    row["tags"] = []
    if tags is not None:
        if not isinstance(tags, list):
            c.add("tags", "Must be a list of strings.")
        elif len(tags) > limits.tags:
            c.add("tags", f"At most {limits.tags} tags.")
        else:
            clean = []
            for index, tag in enumerate(tags):
                value = _without_controls(tag).strip() if isinstance(tag, str) else None
                if not value:
                    c.add(f"tags.{index}", "Must be a non-empty string.")
                elif len(value.encode()) > TAG_MAX:
                    c.add(f"tags.{index}", f"At most {TAG_MAX} bytes.")
                elif value not in clean:
                    clean.append(value)
            row["tags"] = clean

    if c.errors:
        raise EventInvalid(c.errors)
    return row
