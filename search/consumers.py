"""WS /api/v1/logs/stream: a tenant's events live, with the filters of GET /api/v1/logs.

A connection is refused (4401, 4403) unless its credential may read (tenants.ws); bad filters or
`since` get an `error` message, then 4400. Otherwise it joins its tenant's group first, then
replays the stored events after `since` (oldest first, through the Postgres backend), then sends
the live events that match (search.matching), skipping those it replayed: no gap, no duplicate.
Messages: `event` (with its cursor), `heartbeat` when idle, and `lagged` before a 4008 close when
a batch comes while TAIL_QUEUE_EVENTS events still wait for the client (so a connection holds at
most that plus one batch). `lagged` carries where to resume (as `since`): after the last event sent
or, if an event not sent sorts before it (events come in commit order), right before that one.
"""

import asyncio
import logging
import uuid
from datetime import timedelta

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import QueryDict
from django.utils import timezone

from auditlog.conf import auditlog_setting
from auditlog.errors import FieldErrors, error_body
from ingest.live import live_group
from tenants.ws import in_tenant, ws_refusal

from .cursor import cursor_decode, cursor_encode
from .filters import parse_filters
from .matching import event_matches
from .tail import TailEvent, decode_batch, position_before, replay_page

logger = logging.getLogger(__name__)

ROUTE_NAME = "log-stream"  # its entry in tenants.access.MATRIX
BAD_REQUEST, LAGGED, SERVER_ERROR = 4400, 4008, 1011
# A replayed event can also arrive live only if it was published after the connection joined its
# group; ingest transactions are short, so it was received at most this long before the join.
DUPLICATE_HORIZON = timedelta(seconds=60)


class LiveTailConsumer(AsyncWebsocketConsumer):
    group: str | None = None
    writer: asyncio.Task | None = None

    async def connect(self):
        await self.accept()
        refusal = ws_refusal(self.scope, ROUTE_NAME)
        if refusal is not None:
            await self.close(code=refusal.code, reason=refusal.reason)
            return
        try:
            params = QueryDict(self.scope.get("query_string", b"").decode(errors="replace"))
            self.event_filter, extra = parse_filters(params, allowed_extra={"token", "since"})
            since = cursor_decode(extra["since"]) if "since" in extra else None
        except FieldErrors as exc:
            await self._send_json({"type": "error", **error_body(exc.error_code, exc.message, exc.details)})
            await self.close(code=BAD_REQUEST)
            return
        self.tenant = self.scope["tenant"]
        self.pending: asyncio.Queue[TailEvent] = asyncio.Queue()
        self.queue_limit = auditlog_setting("TAIL_QUEUE_EVENTS")
        self.lagged = False
        self.dropped: tuple | None = None  # the earliest position of the events not queued since the lag
        self.replayed: set[str] = set()
        self.joined_at = timezone.now()
        # Where a lagging client resumes: after the last event sent; before one, where it started.
        self.resume_key = since or (self.joined_at, uuid.UUID(int=0))
        self.group = live_group(self.tenant.schema_name)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.writer = asyncio.create_task(self._write(since))

    async def disconnect(self, code):
        if self.writer is not None:
            self.writer.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """Clients have nothing to say; whatever they send is ignored."""

    async def events_batch(self, message):
        """A batch from ingest.live: queue what matches, without waiting; more than the limit waiting is a lag."""
        matching = [e for e in decode_batch(message["events"]) if event_matches(self.event_filter, e.event)]
        if not matching:
            return
        if not self.lagged and self.pending.qsize() >= self.queue_limit:
            self.lagged = True  # the writer says so at its next send; nothing more is queued
        if self.lagged:
            self.dropped = min(filter(None, [self.dropped, *self._unsent_keys(matching)]), default=None)
            return
        for event in sorted(matching, key=lambda e: e.key):  # a bulk's events share their time, not their order
            self.pending.put_nowait(event)

    async def _write(self, since):
        try:
            if since is None or await self._replay(since):
                await self._live()
        except Exception:
            logger.exception("live tail of %s failed", self.tenant.schema_name)
            await self.close(code=SERVER_ERROR)

    async def _replay(self, since) -> bool:
        """Stored events after `since`, page by page; False when the client lagged meanwhile."""
        page_size = auditlog_setting("TAIL_REPLAY_PAGE")
        horizon = self.joined_at - DUPLICATE_HORIZON
        after = since
        while True:
            page = await in_tenant(self.tenant, replay_page, self.event_filter, after=after, limit=page_size)
            for event in page:
                if not await self._deliver(event):
                    return False
                if event.received_at >= horizon:
                    self.replayed.add(event.id)
            if len(page) < page_size:
                return True
            after = page[-1].key

    async def _live(self):
        heartbeat = auditlog_setting("TAIL_HEARTBEAT_SECONDS")
        while True:
            try:
                event = await asyncio.wait_for(self.pending.get(), timeout=heartbeat)
            except TimeoutError:
                await self._send_json({"type": "heartbeat"})
                continue
            if event.id in self.replayed:
                self.replayed.discard(event.id)
            elif not await self._deliver(event):
                return

    async def _deliver(self, event: TailEvent) -> bool:
        """Send one event; or, once the client has lagged, say where to resume and close (False)."""
        if self.lagged:
            await self._send_json({"type": "lagged", "resume": cursor_encode(*self._resume_from(event))})
            await self.close(code=LAGGED)
            return False
        await self.send(text_data=event.text)
        self.resume_key = event.key
        return True

    def _unsent_keys(self, events) -> list[tuple]:
        return [e.key for e in events if e.id not in self.replayed]

    def _resume_from(self, unsent: TailEvent) -> tuple:
        """After the last event sent, unless an event not sent comes earlier (events arrive in commit order,
        not in (occurred_at, id) order): then just before it, so that nothing is lost (some may repeat)."""
        waiting = [self.pending.get_nowait() for _ in range(self.pending.qsize())]
        earliest = min(filter(None, [self.dropped, *self._unsent_keys([unsent, *waiting])]), default=None)
        return self.resume_key if earliest is None or earliest > self.resume_key else position_before(earliest)

    async def _send_json(self, message: dict):
        await self.send(text_data=orjson.dumps(message).decode())
