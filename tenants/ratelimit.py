"""Rate limits: per tenant and per credential, ingest and reads apart, and login attempts; atomic in Redis.

Algorithm: GCRA (the generic cell rate algorithm, a leaky bucket kept as one timestamp per key).
Each key stores its "theoretical arrival time" (TAT); a request is allowed when pushing the TAT one
emission interval (period / limit) further keeps it within one period of now. Chosen over a
sliding-window counter because it is exact (a fixed-window counter lets twice the limit through
around a window boundary; a sliding-window approximation over- or under-counts), smooth (a burst
of `limit` requests, then one per interval), stores one small value per key whatever the limit,
and yields the precise wait for Retry-After. A change of a tenant's limit applies at once: the stored
TAT is time owed, read against the new interval.

One Lua script checks every limit of a request (the tenant's and the credential's) in one round
trip and commits them together: a request refused by either limit consumes neither. The clock is
the Redis server's (TIME), so web processes with skewed clocks share one timeline. Keys are
`<prefix>:{<schema>}:<class>:<who>`: the schema as hash tag keeps a request's keys in one slot of a
Redis Cluster, and the prefix (RATE_KEY_PREFIX) keeps separate deployments (or test runs) apart.

Redis unreachable: API requests pass unchecked (an audit log rather accepts events than drops them,
and reads stay available for incident work); logins are refused with 503 (unthrottled password
guessing is what this limit exists to prevent). Either way it is logged, at most once per
OUTAGE_BACKOFF_SECONDS per process, during which Redis is not asked again, so an outage costs
requests no connection timeouts.
"""

import hashlib
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from rest_framework.throttling import BaseThrottle

from auditlog.conf import auditlog_setting
from auditlog.errors import RATE_LIMITED, SERVICE_UNAVAILABLE, ApiError

from .principal import Principal
from .selectors import tenant_policy

logger = logging.getLogger(__name__)

INGEST = "ingest"
READ = "read"
# (URL name, method) of the ingest class; every other authenticated API request is a read.
INGEST_ROUTES = frozenset({("log-list", "POST"), ("log-bulk", "POST")})

OUTAGE_BACKOFF_SECONDS = 5.0
_SOCKET_TIMEOUT = 0.25  # seconds; a limiter slower than this is treated as down

# What the limit headers mean, also for the OpenAPI document.
HEADER_DOCS = {
    "X-RateLimit-Limit": "Requests allowed per window by the tightest limit that applies.",
    "X-RateLimit-Remaining": "Requests left at once under that limit, after this one.",
    "X-RateLimit-Reset": "Seconds until that limit is whole again.",
    "Retry-After": "Seconds to wait before trying again.",
}

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats, allowed, retry = {}, 1, 0
for i = 1, n do
  local interval, tolerance = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local over = tat + interval - now - tolerance
  if over > 0 then
    allowed = 0
    if over > retry then retry = over end
  end
end
local pick, pick_remaining, pick_limit, pick_reset = 1, nil, 0, 0
for i = 1, n do
  local interval, tolerance, limit = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local tat = tats[i]
  if allowed == 1 then
    tat = tat + interval
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
  end
  local remaining = math.max(0, math.floor((tolerance - (tat - now)) / interval))
  if pick_remaining == nil or remaining < pick_remaining or (remaining == pick_remaining and limit < pick_limit) then
    pick, pick_remaining, pick_limit, pick_reset = i, remaining, limit, tat - now
  end
end
return {allowed, pick_limit, pick_remaining, math.ceil(pick_reset), math.ceil(retry)}
"""


@dataclass(frozen=True)
class Limit:
    """`count` requests per `period` seconds under one Redis key."""

    key: str
    count: int
    period: int


@dataclass(frozen=True)
class Decision:
    """The outcome of a check, reported for the tightest limit (fewest requests left)."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the limit is whole again
    retry_after: int  # seconds until a refused request would pass; 0 when allowed

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class RateLimited(ApiError):
    def __init__(self, decision: Decision, message: str):
        super().__init__(code=RATE_LIMITED, message=message, status_code=429)
        self.wait = decision.retry_after


class LimiterUnavailable(ApiError):
    def __init__(self):
        super().__init__(
            code=SERVICE_UNAVAILABLE, message="Sign-in is briefly unavailable; try again shortly.", status_code=503
        )
        self.wait = int(OUTAGE_BACKOFF_SECONDS)


_lock = threading.Lock()
_scripts: dict = {}
_down_until: dict[str, float] = {}


def _script(url: str):
    """The registered script on a client for this URL, one per process (redis-py pools are thread-safe)."""
    script = _scripts.get(url)
    if script is None:
        with _lock:
            script = _scripts.get(url)
            if script is None:
                client = redis.Redis.from_url(
                    url, socket_timeout=_SOCKET_TIMEOUT, socket_connect_timeout=_SOCKET_TIMEOUT
                )
                script = _scripts[url] = client.register_script(_GCRA)
    return script


def limits_hit(limits: list[Limit]) -> Decision | None:
    """Count one request against every limit at once, atomically; None when Redis cannot be reached."""
    url = auditlog_setting("RATE_REDIS_URL")
    if _down_until.get(url, 0.0) > time.monotonic():
        return None
    args = []
    for limit in limits:
        interval = max(1, limit.period * 1_000_000 // limit.count)  # microseconds
        args += [interval, interval * limit.count, limit.count]
    try:
        allowed, count, remaining, reset_us, retry_us = _script(url)(keys=[lim.key for lim in limits], args=args)
    except redis.RedisError as exc:
        _down_until[url] = time.monotonic() + OUTAGE_BACKOFF_SECONDS
        logger.warning("Rate limiter unreachable (%s); not asking it again for %ss.", exc, OUTAGE_BACKOFF_SECONDS)
        return None
    return Decision(
        allowed=bool(allowed),
        limit=count,
        remaining=remaining,
        reset=max(1, math.ceil(reset_us / 1_000_000)),
        retry_after=0 if allowed else max(1, math.ceil(retry_us / 1_000_000)),
    )


def _key(scope: str, *parts) -> str:
    return ":".join([auditlog_setting("RATE_KEY_PREFIX"), "{" + scope + "}", *map(str, parts)])


def request_class(request) -> str:
    match = request.resolver_match
    return INGEST if (match and match.url_name, request.method) in INGEST_ROUTES else READ


def principal_limits(principal: Principal, klass: str) -> list[Limit]:
    """The tenant's limit and the credential's for this class of request; staff without a tenant: per user."""
    if principal.tenant is None:
        return [Limit(_key("-", "staff", f"u{principal.user.pk}"), auditlog_setting("RATE_STAFF_PER_MINUTE"), 60)]
    limits = tenant_policy(principal.tenant).limits
    who = f"k{principal.api_key.pk}" if principal.api_key is not None else f"u{principal.user.pk}"
    schema = principal.tenant.schema_name
    name, period = ("ingest_per_second", 1) if klass == INGEST else ("read_per_minute", 60)
    return [
        Limit(_key(schema, klass, "tenant"), limits[name], period),
        Limit(_key(schema, klass, who), limits[f"{name}_per_credential"], period),
    ]


def link_limits(tenant, link: str) -> list[Limit]:
    """The limits of a request whose only credential is a signed link of the tenant (an export's download): the
    tenant's read limit, and the link's own at the per-credential rate."""
    limits = tenant_policy(tenant).limits
    schema = tenant.schema_name
    return [
        Limit(_key(schema, READ, "tenant"), limits["read_per_minute"], 60),
        Limit(_key(schema, READ, f"l{link}"), limits["read_per_minute_per_credential"], 60),
    ]


def decision_enforce(decision: Decision | None, view) -> None:
    """Put a check's X-RateLimit-* headers on the view's response; raise RateLimited (429) if it was refused.
    No decision (Redis unreachable): the request passes unchecked."""
    if decision is None:
        return
    view.headers.update(decision.headers())
    if not decision.allowed:
        raise RateLimited(decision, f"Too many requests; retry in {decision.retry_after} s.")


class ApiRateThrottle(BaseThrottle):
    """Every authenticated API request, after authentication and permissions: its tenant's and its credential's
    limit. Sets X-RateLimit-* on the response (refused or not) through the view's response headers."""

    openapi_responses = {429: ("Too many requests: a rate limit of the tenant or the credential", HEADER_DOCS)}
    openapi_success_headers = {name: text for name, text in HEADER_DOCS.items() if name.startswith("X-")}
    openapi_anonymous = False

    def allow_request(self, request, view):
        principal = request.auth
        if not isinstance(principal, Principal):
            return True
        decision_enforce(limits_hit(principal_limits(principal, request_class(request))), view)
        return True


def _client_network(ip: str) -> str:
    """IPv6 callers are counted per /64 (one host usually holds a whole /64)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class LoginThrottle(BaseThrottle):
    """Sign-in attempts per (username, client address) and per client address, counted before the password is
    checked, so each guess costs one. A successful sign-in does not reset the count: it would let a guesser
    who also holds one valid account clear their own count, and a person rarely signs in ten times a minute."""

    openapi_responses = {
        429: ("Too many sign-in attempts from this address", {"Retry-After": HEADER_DOCS["Retry-After"]}),
        503: ("Sign-in attempts cannot be counted right now", {"Retry-After": HEADER_DOCS["Retry-After"]}),
    }
    openapi_success_headers: dict = {}
    openapi_anonymous = True

    def allow_request(self, request, view):
        network = _client_network(self.get_ident(request))
        limits = [Limit(_key("login", "ip", network), auditlog_setting("RATE_LOGIN_PER_MINUTE_PER_IP"), 60)]
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        if isinstance(username, str) and username:
            digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
            limits.append(Limit(_key("login", "ip", network, digest), auditlog_setting("RATE_LOGIN_PER_MINUTE"), 60))
        decision = limits_hit(limits)
        if decision is None:
            raise LimiterUnavailable()
        if not decision.allowed:
            raise RateLimited(decision, f"Too many sign-in attempts; retry in {decision.retry_after} s.")
        return True
