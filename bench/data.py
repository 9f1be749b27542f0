"""Synthetic audit events with realistic distributions: rows for COPY, bodies for the API.

The vocabularies and popularity ranks are built from a fixed seed, so the actor, words and
ids the search benchmark asks for exist in every load; only the per-event draws vary.
Popularity follows Zipf-like laws (a few actors, words, resources and tags are frequent,
most are rare), as in real audit logs.
"""

import random
import uuid
from bisect import bisect
from datetime import UTC, datetime, timedelta
from itertools import accumulate

import orjson

from ingest.services import COLUMNS
from ingest.validation import changed_fields_of


def _cumulative(weights) -> list[float]:
    return list(accumulate(weights))


def _zipf(n: int, s: float = 1.0) -> list[float]:
    """Cumulative weights of ranks 0..n-1 under a Zipf law of exponent s."""
    return _cumulative(1 / (rank + 1) ** s for rank in range(n))


def _weighted(table: dict[str, float]) -> tuple[list[str], list[float]]:
    return list(table), _cumulative(table.values())


SEVERITIES, SEVERITY_CW = _weighted({"INFO": 85, "WARNING": 10, "ERROR": 4, "CRITICAL": 1})
ACTIONS, ACTION_CW = _weighted(
    {
        "READ": 25, "VIEW": 20, "UPDATE": 12, "CREATE": 8, "LOGIN": 8, "LOGOUT": 6, "DOWNLOAD": 3,
        "DELETE": 3, "EXPORT": 2, "LOGIN_FAILED": 2, "UPLOAD": 2, "SHARE": 1.5, "APPROVE": 1.5, "INVITE": 1,
        "PERMISSION_GRANT": 1, "ARCHIVE": 1, "PASSWORD_CHANGE": 0.5, "PERMISSION_REVOKE": 0.5, "REJECT": 0.5,
        "RESTORE": 0.3,
    }
)  # fmt: skip
CHANGING_ACTIONS = {"UPDATE", "PERMISSION_GRANT", "PERMISSION_REVOKE", "PASSWORD_CHANGE", "ARCHIVE", "RESTORE"}
SOURCES, SOURCE_CW = _weighted(
    {
        "web-app": 30, "mobile-app": 15, "billing-api": 12, "auth-service": 12, "admin-console": 8,
        "public-api": 8, "data-pipeline": 5, "support-desk": 4, "scheduler": 3, "sync-worker": 3,
    }
)  # fmt: skip
RESOURCE_TYPES = (
    "user order invoice payment subscription customer product document report project repository api_key role "
    "team workspace dashboard file folder ticket comment webhook integration setting session device contract "
    "shipment refund coupon export"
).split()
RESOURCE_TYPE_CW = _zipf(len(RESOURCE_TYPES), 0.8)
RESOURCE_IDS_PER_TYPE = 5_000
RESOURCE_ID_CW = _zipf(RESOURCE_IDS_PER_TYPE)
TAGS = (
    "pci gdpr sox hipaa admin api ui mobile batch security billing auth sso mfa export import sensitive internal "
    "external automated manual bulk critical-path customer-facing staff onboarding offboarding trial migration "
    "beta legacy webhook scim saml oauth audit compliance finance hr support sales marketing devops prod staging "
    "eu us apac retention legal-hold"
).split()
TAG_CW = _zipf(len(TAGS), 0.7)
REGIONS, REGION_CW = _weighted(
    {
        "us-east-1": 30, "eu-west-1": 25, "us-west-2": 15, "eu-central-1": 12, "ap-southeast-1": 8,
        "ap-northeast-1": 5, "sa-east-1": 3, "ca-central-1": 2,
    }
)  # fmt: skip
PLANS, PLAN_CW = _weighted({"free": 50, "team": 25, "pro": 17, "enterprise": 8})
FEATURES = (
    "sso reports exports alerts webhooks api-keys retention masking dashboards billing invoices seats "
    "integrations audit-trail search live-tail archive roles teams workspaces"
).split()
STATUS_CODES, STATUS_CW = _weighted({"200": 70, "201": 12, "204": 5, "400": 5, "403": 4, "404": 3, "500": 1})
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "curl/8.8.0",
    "Go-http-client/2.0",
    "acme-sdk-java/3.4.1",
)
CHANGE_FIELDS = {
    "status": ("active", "suspended", "pending", "archived"),
    "role": ("viewer", "editor", "admin", "owner"),
    "plan": PLANS,
    "quota": (10, 50, 100, 500, 1000),
    "enabled": (True, False),
}
DOMAIN_WORDS = (
    "request account payment failed updated customer access token policy billing invoice user session password "
    "changed created deleted approved rejected report export download upload shared permission granted revoked "
    "admin settings profile email address phone verified login logout attempt blocked limit quota exceeded "
    "subscription renewed cancelled trial expired order shipped refund issued card declined retry webhook "
    "delivered timeout error warning critical service worker job scheduled completed started queued backup "
    "restored archived document folder file project team member invited removed role assigned key rotated "
    "integration connected disconnected sync dashboard viewed filter saved alert triggered resolved threshold "
    "region migrated tenant workspace device registered mfa enabled disabled"
).split()

_FIXED = random.Random(1729)  # vocabularies and popularity ranks: identical in every run
_ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr kr pl pr sh st th tr".split()
_VOWELS = "a e i o u ai ea io ou".split()


def _pseudo_words(count: int, syllables: tuple[int, int], taken: set[str]) -> list[str]:
    words: list[str] = []
    while len(words) < count:
        word = "".join(
            _FIXED.choice(_ONSETS) + _FIXED.choice(_VOWELS) for _ in range(_FIXED.randint(*syllables))
        ) + _FIXED.choice(("", "n", "r", "s", "x", "l"))
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


_taken = set(DOMAIN_WORDS)
VOCABULARY = list(DOMAIN_WORDS) + _pseudo_words(3_000 - len(DOMAIN_WORDS), (2, 3), _taken)
VOCABULARY_CW = _zipf(len(VOCABULARY))
RARE_WORDS = _pseudo_words(300, (4, 4), _taken)  # each in ~1 message of 30,000
RARE_WORD_RATE = 0.01

_FIRST = "anna ben carla dev emma felix grace hugo ines jon kira liam maya noah olga pablo rosa sam tara umar".split()
_LAST = "smith garcia muller rossi kim nguyen silva novak berg costa dubois jensen ito khan lopez meyer".split()
ACTOR_COUNT = 10_000
IP_POOL = [
    f"{_FIXED.randint(11, 223)}.{_FIXED.randint(0, 255)}.{_FIXED.randint(0, 255)}.{_FIXED.randint(1, 254)}"
    if i % 20
    else f"2001:db8:{_FIXED.randint(0, 0xFFFF):x}::{_FIXED.randint(1, 0xFFFF):x}"
    for i in range(5_000)
]
IP_CW = _zipf(len(IP_POOL), 0.9)


def _actor(index: int) -> dict:
    if index < 200:
        return {"id": f"system-{index:03d}", "type": "system", "name": None, "email": None}
    if index < 1_000:
        source = SOURCES[index % len(SOURCES)]
        return {"id": f"svc-{source}-{index:03d}", "type": "service", "name": None, "email": None}
    first, last = _FIXED.choice(_FIRST), _FIXED.choice(_LAST)
    return {
        "id": f"user-{index:05d}",
        "type": "user",
        "name": f"{first.title()} {last.title()}",
        "email": f"{first}.{last}{index}@example.com",
    }


ACTORS = [_actor(i) for i in range(ACTOR_COUNT)]
_FIXED.shuffle(ACTORS)  # popularity rank is independent of the actor's kind
ACTOR_CW = _zipf(ACTOR_COUNT)

# Values the search benchmark filters on (popularity ranks chosen for a moderate number of matches,
# except COMMON_WORD, in about one message of seven, and RARE_WORD, in about one of 30,000).
SEARCH_ACTOR = ACTORS[100]["id"]
SEARCH_ACTION = "DELETE"
SEARCH_RESOURCE = ("order", f"ord-{10:06d}")
SEARCH_SOURCE = "billing-api"
SEARCH_TAG = TAGS[20]
SEARCH_REGION = "eu-west-1"
COMMON_WORD = VOCABULARY[4]
RARE_WORD = RARE_WORDS[0]


def _pick(rng: random.Random, population, cum_weights):
    return population[bisect(cum_weights, rng.random() * cum_weights[-1])]


def uuid7_at(moment: datetime, rng: random.Random) -> uuid.UUID:
    """A version 7 UUID for the given time (RFC 9562), like the ids the service assigns."""
    ms = int(moment.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


class EventFactory:
    """Draws events; consecutive events sometimes share a correlation id (one user flow)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self._correlation = self._hex(16)

    def _hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def rows(self, times: list[datetime]) -> list[dict]:
        return [self.row(t) for t in times]

    def row(self, occurred_at: datetime) -> dict:
        rng = self.rng
        actor = _pick(rng, ACTORS, ACTOR_CW)
        action = _pick(rng, ACTIONS, ACTION_CW)
        resource_type = _pick(rng, RESOURCE_TYPES, RESOURCE_TYPE_CW)
        resource_id = f"{resource_type[:3]}-{_pick(rng, range(RESOURCE_IDS_PER_TYPE), RESOURCE_ID_CW):06d}"
        if rng.random() < 0.6:
            self._correlation = self._hex(16)
        changes = self._changes() if action in CHANGING_ACTIONS else None
        resource_name = f"{resource_type.replace('_', ' ').title()} {resource_id[4:]}"
        return {
            "id": uuid7_at(occurred_at, rng),
            "occurred_at": occurred_at,
            "received_at": occurred_at + timedelta(milliseconds=rng.randint(2, 400)),
            "actor_id": actor["id"],
            "actor_type": actor["type"],
            "actor_name": actor["name"],
            "actor_email": actor["email"],
            "session_id": f"sess_{self._hex(12)}" if actor["type"] == "user" and rng.random() < 0.7 else None,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id if rng.random() < 0.95 else None,
            "resource_name": resource_name if rng.random() < 0.5 else None,
            "severity": _pick(rng, SEVERITIES, SEVERITY_CW),
            "message": self._message(action, resource_type, resource_id),
            "ip": _pick(rng, IP_POOL, IP_CW) if rng.random() < 0.9 else None,
            "user_agent": rng.choice(USER_AGENTS) if rng.random() < 0.8 else None,
            "request_id": f"req_{self._hex(16)}" if rng.random() < 0.9 else None,
            "correlation_id": f"corr_{self._correlation}",
            "changes": changes,
            "changed_fields": changed_fields_of(changes["before"], changes["after"]) if changes else [],
            "metadata": self._metadata(),
            "source": _pick(rng, SOURCES, SOURCE_CW) if rng.random() < 0.97 else None,
            "tags": self._tags(),
            "masked_fields": [],
        }

    def _message(self, action: str, resource_type: str, resource_id: str) -> str:
        rng = self.rng
        words = [_pick(rng, VOCABULARY, VOCABULARY_CW) for _ in range(rng.randint(3, 10))]
        if rng.random() < RARE_WORD_RATE:
            words.insert(rng.randrange(len(words)), rng.choice(RARE_WORDS))
        return f"{action.lower().replace('_', ' ')} {resource_type} {resource_id}: {' '.join(words)}"

    def _metadata(self) -> dict:
        rng = self.rng
        meta = {"plan": _pick(rng, PLANS, PLAN_CW), "region": _pick(rng, REGIONS, REGION_CW)}
        optional = {
            "count": lambda: min(int(rng.paretovariate(1.2)), 10_000),
            "feature": lambda: rng.choice(FEATURES),
            "status_code": lambda: int(_pick(rng, STATUS_CODES, STATUS_CW)),
            "duration_ms": lambda: int(rng.lognormvariate(4, 1)),
            "client_version": lambda: f"3.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
        }
        for key in rng.sample(list(optional), rng.randint(1, 3)):
            meta[key] = optional[key]()
        return meta

    def _tags(self) -> list[str]:
        count = _pick(self.rng, (0, 1, 2, 3), (40, 75, 92, 100))
        return list(dict.fromkeys(_pick(self.rng, TAGS, TAG_CW) for _ in range(count)))

    def _changes(self) -> dict:
        rng = self.rng
        before, after = {}, {}
        for name in rng.sample(list(CHANGE_FIELDS), rng.randint(1, 2)):
            before[name], after[name] = rng.sample(CHANGE_FIELDS[name], 2)
        return {"before": before, "after": after}


def spread_times(start: datetime, end: datetime, count: int, rng: random.Random) -> list[datetime]:
    """count sorted random instants in [start, end)."""
    span = (end - start).total_seconds()
    return [start + timedelta(seconds=s) for s in sorted(rng.random() * span for _ in range(count))]


def now() -> datetime:
    return datetime.now(UTC)


def _compact(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def body_of(row: dict) -> dict:
    """The API request body (SPEC "Event (v1)") that the service stores as this row."""
    body = {
        "occurred_at": row["occurred_at"].isoformat(),
        "actor": _compact(
            {"id": row["actor_id"], "type": row["actor_type"], "name": row["actor_name"],
             "email": row["actor_email"], "session_id": row["session_id"]}
        ),
        "action": row["action"],
        "resource": _compact({"type": row["resource_type"], "id": row["resource_id"], "name": row["resource_name"]}),
        "severity": row["severity"],
        "message": row["message"],
        "context": _compact(
            {"ip": row["ip"], "user_agent": row["user_agent"], "request_id": row["request_id"],
             "correlation_id": row["correlation_id"]}
        ),
        "metadata": row["metadata"],
        "tags": row["tags"],
    }  # fmt: skip
    if row["changes"] is not None:
        body["changes"] = row["changes"]
    if row["source"] is not None:
        body["source"] = row["source"]
    return body


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _array_literal(values: list[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, dict):
        return orjson.dumps(value).decode().translate(_COPY_ESCAPES)
    if isinstance(value, list):
        return _array_literal(value).translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def copy_text(rows: list[dict]) -> str:
    """Rows in COPY text format, columns in ingest.services.COLUMNS order."""
    return "".join("\t".join(_copy_field(row[c]) for c in COLUMNS) + "\n" for row in rows)


COPY_SQL = "COPY ingest_event ({}) FROM STDIN".format(", ".join(COLUMNS))
