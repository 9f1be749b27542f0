"""The access trail: every read of the log is itself an event in the tenant's log (source `auditlog`).

Who read what is what an Auditor asks of an audit log. ROUTES maps a read route (by URL name, with its
namespace for a dashboard page) to the event it leaves; AccessTrailMiddleware records a GET of any route
listed there once its response is a 2xx (a refused, failed or invalid request read nothing), so a view
never knows it is recorded (a page whose query string is not the API's says what it read:
trail_page_read). The live
tail records its subscription itself (trail_note_stream), once the connection is accepted and its
filters are valid.

Recording never slows the read: the middleware only appends the event to a per-process buffer; a
background thread writes each tenant's buffer every TRAIL_FLUSH_SECONDS through the ingest path
(ingest.services.events_record: validation, masking, encryption, outbox, live tail, mirror), one bulk
write per tenant per flush, and the rest at exit. Writing trail events reads nothing and goes through no
view, so it never records trail events itself: no recursion. Reading the trail is an ordinary read,
recorded once like any other.
"""

import atexit
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass

from django.db import connection
from django.http import QueryDict
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from auditlog.conf import auditlog_setting
from auditlog.errors import FieldErrors
from ingest.services import ACCESS_TRAIL_SOURCE, events_record
from tenants.principal import Principal

from .filters import LIST_PARAMS, EventFilter, parse_filters

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrailRoute:
    action: str
    message: str
    resource: str = "log"  # "event": one event, named by the route's event_id


# A read route listed here is recorded after every successful GET; a new read route needs one line.
ROUTES: dict[str, TrailRoute] = {
    "log-list": TrailRoute("SEARCH", "Searched the log"),
    "log-detail": TrailRoute("VIEW", "Viewed an event", resource="event"),
    "log-related": TrailRoute("VIEW", "Viewed the events related to an event", resource="event"),
    "log-stream": TrailRoute("SUBSCRIBE", "Subscribed to the live tail"),
    "log-export": TrailRoute("EXPORT", "Exported events"),
    "log-stats": TrailRoute("STATS", "Read statistics of the log"),
    "log-verify": TrailRoute("VERIFY", "Verified the integrity of the log"),
    # The dashboard's pages (search/views.py), by namespaced name.
    "logs:list": TrailRoute("SEARCH", "Searched the log"),
    "logs:detail": TrailRoute("VIEW", "Viewed an event", resource="event"),
}
FILTER_PARAMS = {*LIST_PARAMS, "from", "to", "ip", "tag", "q"}
VALUE_MAX = 1000  # characters of one recorded filter value (a stored JSON string is at most 4 KiB)
NAME_MAX = 200  # characters of a recorded filter name (a stored JSON key is at most 256 bytes)
FILTERS_BYTES = 12 * 1024  # of recorded filters (an event's metadata is at most 16 KiB)
BUFFER_EVENTS = 10_000  # per tenant and process; more waiting than this (the database is down) are dropped, logged


def _clip(value: str | None, max_bytes: int) -> str | None:
    return value.encode()[:max_bytes].decode(errors="ignore") if value else None


def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def filters_used(params) -> dict:
    """The filters a read asked for, as query parameters (normalised as the read parsed them); other parameters
    (limit, cursor, token, format...) are not filters and are left out."""
    wanted = QueryDict(mutable=True)
    for name in params.keys():
        if name in FILTER_PARAMS or name.startswith("metadata."):
            wanted.setlist(name, params.getlist(name))
    try:
        f, _extra = parse_filters(wanted)
    except FieldErrors:  # a read that succeeded parsed them; nothing else to record
        return {}
    return filters_of(f)


def _cut(text: str, limit: int) -> str:
    return text[:limit] + "…" if len(text) > limit else text


def filters_of(f: EventFilter) -> dict:
    """A filter as query parameters, cut to what an event's metadata holds (names and values shortened; past
    FILTERS_BYTES the rest left out and counted), so that a read with huge filters is still recorded."""
    out, size = {}, 0
    params = f.as_params()
    for name, value in params.items():
        name, value = _cut(name, NAME_MAX), _cut(value, VALUE_MAX)
        size += len(name.encode()) + len(value.encode()) + 6
        if size > FILTERS_BYTES:
            out["…"] = f"{len(params) - len(out)} more filters not recorded"
            break
        out[name] = value
    return out


def trail_event(
    url_name: str,
    principal: Principal,
    *,
    filters: dict,
    resource_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
    **details,
) -> dict:
    """The body of the event a read leaves (the request shape of POST /api/v1/logs)."""
    route = ROUTES[url_name]
    resource = {"type": "event", "id": resource_id} if route.resource == "event" else {"type": "log"}
    context = {"ip": _address(ip), "user_agent": _clip(user_agent, 1024), "request_id": _clip(request_id, 256)}
    return {
        "occurred_at": timezone.now().isoformat(),
        "actor": {k: v for k, v in principal.actor.items() if v},
        "action": route.action,
        "resource": resource,
        "severity": "INFO",
        "message": route.message,
        "context": {k: v for k, v in context.items() if v},
        "metadata": {"route": url_name, "filters": filters, **details},
        "source": ACCESS_TRAIL_SOURCE,
    }


class _Buffer:
    """Trail events waiting to be written, per tenant; one background thread writes them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[object, list[dict]]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropping = False

    def add(self, tenant, body: dict) -> None:
        background = auditlog_setting("TRAIL_FLUSH_SECONDS") > 0
        with self._lock:
            _tenant, bodies = self._pending.setdefault(tenant.schema_name, (tenant, []))
            if len(bodies) >= BUFFER_EVENTS:
                if not self._dropping:
                    logger.error("access trail of %s: %d events wait, dropping more", tenant.schema_name, len(bodies))
                self._dropping = True
                return
            bodies.append(body)
            if background and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="access-trail", daemon=True)
                self._thread.start()
        if background:
            self._wake.set()

    def take(self) -> dict[str, tuple[object, list[dict]]]:
        with self._lock:
            pending, self._pending, self._dropping = self._pending, {}, False
        return pending

    def write(self) -> int:
        """Write what waits now, one bulk write per tenant, from the calling thread; returns the events written."""
        written = 0
        for schema_name, (tenant, bodies) in self.take().items():
            try:
                written += events_record(tenant, bodies)
            except Exception:  # noqa: BLE001 - one tenant's failure (e.g. deleted meanwhile) must not lose the others'
                logger.exception("access trail of %s: %d events not written", schema_name, len(bodies))
        return written

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(auditlog_setting("TRAIL_FLUSH_SECONDS"))  # let the reads of the next moments join the write
            try:
                self.write()
            finally:
                connection.close()  # this thread's connection goes back to the pool between flushes

    def write_at_exit(self) -> None:
        if auditlog_setting("TRAIL_FLUSH_SECONDS") <= 0:  # tests: their trail is theirs to flush
            return
        try:
            self.write()
        finally:
            connection.close()


_buffer = _Buffer()
atexit.register(_buffer.write_at_exit)


def trail_note(tenant, body: dict) -> None:
    """Queue a trail event of the tenant for the next flush (cheap: no I/O on the reader's path)."""
    _buffer.add(tenant, body)


def trail_flush() -> int:
    """Write the waiting trail events now, from the calling thread (tests, so that they are deterministic)."""
    return _buffer.write()


def trail_discard() -> None:
    """Forget the waiting trail events (tests: what earlier tests' reads left, which they never flushed)."""
    _buffer.take()


_CLIENT = BaseThrottle()


@dataclass(frozen=True)
class PageRead:
    """What a page read (its parsed filter, the events it showed), for pages whose query string is not the
    API's (presets, form fields); the API's reads are described by their query string and response."""

    event_filter: EventFilter
    results: int


def trail_page_read(request, f: EventFilter, *, results: int) -> None:
    """Called by a page view of a route in ROUTES: record these filters and this count for its read."""
    request.access_trail_read = PageRead(f, results)


class AccessTrailMiddleware:
    """Records each successful GET of a route in ROUTES, after its view has answered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = request.resolver_match
        if (
            match is not None
            and match.view_name in ROUTES  # the API's names have no namespace; the dashboard's do
            and request.method in ("GET", "HEAD")
            and 200 <= response.status_code < 300
        ):
            self._note(request, match, response)
        return response

    @staticmethod
    def _note(request, match, response) -> None:
        principal = getattr(request, "auth", None)  # DRF (and tenants.dashboard) put the Principal here too
        if not isinstance(principal, Principal) or principal.tenant is None:
            return
        details = {}
        page_read = getattr(request, "access_trail_read", None)
        data = getattr(response, "data", None)
        if page_read is not None:
            details["results"] = page_read.results
            filters = filters_of(page_read.event_filter)
        else:
            if isinstance(data, dict) and isinstance(data.get("results"), list):
                details["results"] = len(data["results"])
            filters = filters_used(request.GET)
        if "cursor" in request.GET:
            details["next_page"] = True
        event_id = match.kwargs.get("event_id")
        body = trail_event(
            match.view_name,
            principal,
            filters=filters,
            resource_id=str(event_id) if event_id is not None else None,
            ip=_CLIENT.get_ident(request),  # as the rate limits see it (NUM_PROXIES: from X-Forwarded-For)
            user_agent=request.META.get("HTTP_USER_AGENT"),
            request_id=request.META.get("HTTP_X_REQUEST_ID"),
            **details,
        )
        trail_note(principal.tenant, body)


def trail_note_stream(scope, url_name: str, f: EventFilter, *, replay: bool) -> None:
    """Record an accepted live-tail subscription (its filters; whether it replays from a `since`)."""
    principal = scope.get("principal")
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    client = scope.get("client") or (None,)
    details = {"replay": True} if replay else {}
    body = trail_event(
        url_name,
        principal,
        filters=filters_of(f),
        ip=client[0],
        user_agent=headers.get("user-agent"),
        request_id=headers.get("x-request-id"),
        **details,
    )
    trail_note(principal.tenant, body)
