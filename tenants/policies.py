"""A tenant's policies: what GET/PATCH /api/v1/settings accept, their defaults, and the effective Policy.

Masking rules and sensitive fields are applied at ingest (ingest.masking, ingest.crypto), limits by
the rate limiter (tenants.ratelimit), retention by the clean-up. Tenant regexes are RE2 (linear
time: a rule cannot make ingest hang) and checked here, before they are stored.
"""

import re
from dataclasses import dataclass, field

import re2

from auditlog.conf import auditlog_setting

MASK_KEYS_MAX = 100
MASK_PATHS_MAX = 100
MASK_PATTERNS_MAX = 20
PATTERN_MAX_CHARS = 200
SENSITIVE_MAX = 50
RETENTION_MAX_DAYS = 3650

# Dotted paths a masking rule may name: a whole text field, or anything under the JSON fields.
MASKABLE_FIELDS = ("message", "actor.name", "actor.email", "resource.name", "context.user_agent")
MASKABLE_ROOTS = ("metadata", "changes.before", "changes.after")
_SEGMENT = r"[A-Za-z0-9_\-]{1,64}"
PATH_RE = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT}){{0,7}}$")
KEY_RE = re.compile(r"^[^\x00-\x1f]{1,64}$")

# Rate limits a tenant may set (requests per window), and the settings holding their defaults.
LIMIT_NAMES = {
    "ingest_per_second": "RATE_INGEST_PER_SECOND",  # the tenant's ingest requests, all credentials together
    "ingest_per_second_per_credential": "RATE_INGEST_PER_SECOND_PER_CREDENTIAL",
    "read_per_minute": "RATE_READ_PER_MINUTE",  # the tenant's read requests, all credentials together
    "read_per_minute_per_credential": "RATE_READ_PER_MINUTE_PER_CREDENTIAL",
}
LIMIT_MAX = 1_000_000


@dataclass(frozen=True)
class Masking:
    keys: frozenset[str] = frozenset()  # lower-cased
    paths: tuple[str, ...] = ()
    patterns: tuple = ()  # compiled RE2 patterns


@dataclass(frozen=True)
class Policy:
    """The effective policy of a tenant: its settings over the service's defaults."""

    retention_days: int = 90
    masking: Masking = field(default_factory=Masking)
    sensitive_fields: tuple[str, ...] = ()
    limits: dict = field(default_factory=dict)

    @classmethod
    def of(cls, row) -> "Policy":
        masking = row.masking if row is not None else {}
        limits = {name: auditlog_setting(setting) for name, setting in LIMIT_NAMES.items()}
        if row is not None:
            limits.update(row.limits)
        return cls(
            retention_days=row.retention_days if row is not None else auditlog_setting("RETENTION_DAYS"),
            masking=Masking(
                keys=frozenset(k.lower() for k in masking.get("keys", [])),
                paths=tuple(masking.get("paths", [])),
                patterns=tuple(re2.compile(p) for p in masking.get("patterns", [])),
            ),
            sensitive_fields=tuple(row.sensitive_fields) if row is not None else (),
            limits=limits,
        )


def _path_ok(path: str, fields: tuple[str, ...], roots: tuple[str, ...]) -> bool:
    if not isinstance(path, str) or not PATH_RE.match(path):
        return False
    return path in fields or any(path.startswith(root + ".") for root in roots)


def _strings(value, name: str, errors: dict, maximum: int) -> list:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[name] = ["A list of strings."]
        return []
    if len(value) > maximum:
        errors[name] = [f"At most {maximum} entries."]
        return []
    return list(dict.fromkeys(value))


def masking_clean(value) -> tuple[dict, dict]:
    """(the masking rules to store, errors by field path)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(value, dict):
        return {}, {"masking": ['An object with "keys", "paths" and "patterns".']}
    unknown = set(value) - {"keys", "paths", "patterns"}
    for name in sorted(unknown):
        errors[f"masking.{name}"] = ["Unknown field."]
    keys = _strings(value.get("keys", []), "masking.keys", errors, MASK_KEYS_MAX)
    for i, key in enumerate(keys):
        if not KEY_RE.match(key):
            errors[f"masking.keys.{i}"] = ["1 to 64 characters, no control characters."]
    paths = _strings(value.get("paths", []), "masking.paths", errors, MASK_PATHS_MAX)
    for i, path in enumerate(paths):
        if not _path_ok(path, MASKABLE_FIELDS, MASKABLE_ROOTS):
            errors[f"masking.paths.{i}"] = [
                f"One of {', '.join(MASKABLE_FIELDS)}, or a dotted path under {', '.join(MASKABLE_ROOTS)}."
            ]
    patterns = _strings(value.get("patterns", []), "masking.patterns", errors, MASK_PATTERNS_MAX)
    for i, pattern in enumerate(patterns):
        if not pattern or len(pattern) > PATTERN_MAX_CHARS or "\x00" in pattern:  # PostgreSQL refuses NUL
            errors[f"masking.patterns.{i}"] = [f"1 to {PATTERN_MAX_CHARS} characters, no NUL."]
            continue
        try:
            compiled = re2.compile(pattern)
        except re2.error as exc:
            errors[f"masking.patterns.{i}"] = [f"Not a valid RE2 regular expression: {exc}"]
            continue
        if compiled.search(""):
            errors[f"masking.patterns.{i}"] = ["The pattern matches the empty string."]
    return {"keys": keys, "paths": paths, "patterns": patterns}, errors


def sensitive_clean(value) -> tuple[list, dict]:
    errors: dict[str, list[str]] = {}
    paths = _strings(value, "sensitive_fields", errors, SENSITIVE_MAX)
    for i, path in enumerate(paths):
        if not _path_ok(path, (), ("metadata",)):
            errors[f"sensitive_fields.{i}"] = ["A dotted path under metadata, such as metadata.card.holder."]
    return paths, errors


def limits_clean(value) -> tuple[dict, dict]:
    if not isinstance(value, dict):
        return {}, {"limits": ["An object of limit names and request counts."]}
    errors: dict[str, list[str]] = {}
    out = {}
    for name, count in value.items():
        if name not in LIMIT_NAMES:
            errors[f"limits.{name}"] = [f"Unknown limit; known: {', '.join(LIMIT_NAMES)}."]
        elif count is None:
            continue  # back to the default
        elif isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= LIMIT_MAX:
            errors[f"limits.{name}"] = [f"An integer from 1 to {LIMIT_MAX:,}, or null for the default."]
        else:
            out[name] = count
    return out, errors


def retention_clean(value) -> tuple[int, dict]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= RETENTION_MAX_DAYS:
        return 0, {"retention_days": [f"An integer from 1 to {RETENTION_MAX_DAYS}."]}
    return value, {}
