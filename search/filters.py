"""The filter language of event reads: query parameters -> EventFilter, parsed once.

Used by the list today and by export, stats and the live tail later, so every
read path accepts the same parameters with the same meaning.
"""

import ipaddress
import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from auditlog.conf import auditlog_setting
from auditlog.errors import FieldErrors
from ingest.models import ActorType, Severity
from ingest.validation import parse_time

# Parameters naming one column each; comma lists mean "any of".
LIST_PARAMS = {
    "actor_id": "actor_id",
    "actor_type": "actor_type",
    "action": "action",
    "resource_type": "resource_type",
    "resource_id": "resource_id",
    "severity": "severity",
    "source": "source",
    "correlation_id": "correlation_id",
    "request_id": "request_id",
    "session_id": "session_id",
}
OTHER_PARAMS = {"from", "to", "ip", "tag", "q", "limit", "cursor"}
METADATA_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}(\.[A-Za-z0-9_\-]{1,64}){0,4}$")
MAX_VALUES = 50
MAX_VALUE_LEN = 256


@dataclass
class EventFilter:
    time_from: datetime | None = None
    time_to: datetime | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)
    ips: list[str] = field(default_factory=list)  # addresses or CIDR networks
    tags: list[str] = field(default_factory=list)
    q: str | None = None
    metadata: list[tuple[list[str], str]] = field(default_factory=list)
    # Whether events of the access trail (source `auditlog`) may match: set from the reader's audience
    # (search.audience), never from a query parameter, so `next` links and cursors stay the same for everyone.
    access_trail: bool = True

    def as_params(self) -> dict:
        """Back to query parameters (for `next` links and logging what was asked)."""
        out: dict[str, str] = {}
        if self.time_from:
            out["from"] = self.time_from.isoformat()
        if self.time_to:
            out["to"] = self.time_to.isoformat()
        for name, values in self.columns.items():
            out[name] = ",".join(values)
        if self.ips:
            out["ip"] = ",".join(self.ips)
        if self.tags:
            out["tag"] = ",".join(self.tags)
        if self.q:
            out["q"] = self.q
        for path, value in self.metadata:
            out["metadata." + ".".join(path)] = value
        return out


def metadata_values(value: str) -> list:
    """The JSON values `metadata.<path>=<value>` matches: the string, and the boolean or finite number it spells."""
    if value in ("true", "false"):
        return [value, value == "true"]
    try:
        number = int(value) if value.lstrip("-").isdigit() else float(value)
    except ValueError:
        return [value]
    # "nan" and "inf" spell floats that JSON (and so jsonb) cannot hold.
    if isinstance(number, float) and not math.isfinite(number):
        return [value]
    return [value, number]


def _values(params, name: str, errors: dict) -> list[str]:
    values: list[str] = []
    for raw in params.getlist(name):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    if not values:
        errors.setdefault(name, []).append("Give at least one value.")
    elif len(values) > MAX_VALUES:
        errors.setdefault(name, []).append(f"At most {MAX_VALUES} values.")
    elif any(len(v) > MAX_VALUE_LEN for v in values):
        errors.setdefault(name, []).append(f"Values are at most {MAX_VALUE_LEN} characters.")
    return list(dict.fromkeys(values))


def parse_filters(params, *, allowed_extra: set[str] = frozenset()) -> tuple[EventFilter, dict]:
    """Parse query parameters; returns (filter, the remaining known non-filter params). Raises FieldErrors."""
    f = EventFilter()
    errors: dict[str, list[str]] = {}
    extra: dict[str, str] = {}
    for name in params.keys():
        if any("\x00" in value for value in params.getlist(name)):
            errors.setdefault(name, []).append("NUL characters are not allowed.")  # PostgreSQL text cannot hold them
        elif name in LIST_PARAMS:
            values = _values(params, name, errors)
            if name == "severity":
                values = [v.upper() for v in values]
                if any(v not in Severity.values for v in values):
                    errors.setdefault(name, []).append(f"One or more of {', '.join(Severity.values)}.")
            elif name == "action":
                values = [v.upper() for v in values]
            elif name == "actor_type" and any(v not in ActorType.values for v in values):
                errors.setdefault(name, []).append(f"One or more of {', '.join(ActorType.values)}.")
            f.columns[LIST_PARAMS[name]] = values
        elif name in ("from", "to"):
            raw = params.get(name)
            # An unencoded '+' of the offset arrives as a space: take it back.
            raw = re.sub(r" (\d\d:?\d\d)$", r"+\1", raw)
            try:
                value = parse_time(raw)
            except ValueError as exc:
                errors.setdefault(name, []).append(str(exc))
                continue
            if name == "from":
                f.time_from = value
            else:
                f.time_to = value
        elif name == "ip":
            for value in _values(params, name, errors):
                try:
                    if "%" in value:  # a zone (fe80::1%eth0): Python parses it, PostgreSQL's inet does not
                        raise ValueError(value)
                    f.ips.append(
                        str(ipaddress.ip_network(value, strict=False))
                        if "/" in value
                        else str(ipaddress.ip_address(value))
                    )
                except ValueError:
                    errors.setdefault(name, []).append(f"'{value[:64]}' is not an IP address or network.")
        elif name == "tag":
            f.tags = _values(params, name, errors)
        elif name == "q":
            q = params.get(name, "").strip()
            if not q or len(q) > MAX_VALUE_LEN:
                errors.setdefault(name, []).append(f"1 to {MAX_VALUE_LEN} characters.")
            f.q = q
        elif name.startswith("metadata."):
            path = name[len("metadata.") :]
            value = params.get(name, "")
            if not METADATA_KEY_RE.match(path):
                errors.setdefault(name, []).append("Keys are letters, digits, '_' or '-', up to 5 levels.")
            elif len(value) > MAX_VALUE_LEN:
                errors.setdefault(name, []).append(f"At most {MAX_VALUE_LEN} characters.")
            else:
                f.metadata.append((path.split("."), value))
        elif name in allowed_extra:
            extra[name] = params.get(name)
        else:
            errors.setdefault(name, []).append("Unknown parameter.")
    if f.time_from and f.time_to and f.time_from >= f.time_to:
        errors.setdefault("from", []).append("Must be before 'to'.")
    if errors:
        raise FieldErrors(errors)
    return f, extra


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return auditlog_setting("LIST_DEFAULT_LIMIT")
    maximum = auditlog_setting("LIST_MAX_LIMIT")
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise FieldErrors({"limit": [f"An integer from 1 to {maximum}."]})
    return int(raw)
