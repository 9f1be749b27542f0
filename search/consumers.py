"""WS /api/v1/logs/stream: a tenant's events live, with the filters of GET /api/v1/logs.

A connection is refused (4401, 4403) unless its credential may read (tenants.ws); bad filters or
`since` get an `error` message, then 4400. Otherwise it joins its tenant's group first, then
replays the stored events after `since` (oldest first, through the Postgres backend), then sends
the live events that match (search.matching), skipping those it replayed: no gap, no duplicate.
Messages: `event` (with its cursor), or with `batch=true` `events` (a list of {event, cursor}, one message
for what is ready at once, so a busy tenant costs a client tens of messages a second rather than
thousands), `heartbeat` when idle, and `lagged` before a 4008 close when
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
from ingest.live import MESSAGE_TYPE, live_group
from tenants.keys import KeyNotLoaded
from tenants.ws import in_tenant, ws_refusal

from .audience import audience_of
from .cursor import cursor_decode, cursor_encode
from .filters import parse_filters
from .tail import (
    Selection,
    TailEvent,
    batch_text,
    filter_key,
    position_before,
    render_batch,
    replay_page,
    select,
)
from .trail import trail_note_stream

logger = logging.getLogger(__name__)

ROUTE_NAME = "log-stream"  # its entry in tenants.access.MATRIX
BAD_REQUEST, LAGGED, SERVER_ERROR = 4400, 4008, 1011
# A replayed event can also arrive live only if it was published after the connection joined its
# group; ingest transactions are short, so it was received at most this long before the join.
DUPLICATE_HORIZON = timedelta(seconds=60)
BATCH_EVENTS = 500  # at most this many events in one `events` message


def _flag(extra: dict, name: str) -> bool:
    value = extra.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise FieldErrors({name: ["Must be true or false."]})
    return value in ("true", "1")


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
            self.event_filter, extra = parse_filters(params, allowed_extra={"token", "since", "batch"})
            since = cursor_decode(extra["since"]) if "since" in extra else None
            self.batch_limit = BATCH_EVENTS if _flag(extra, "batch") else 1
        except FieldErrors as exc:
            await self._send_json({"type": "error", **error_body(exc.error_code, exc.message, exc.details)})
            await self.close(code=BAD_REQUEST)
            return
        self.tenant = self.scope["tenant"]
        self.audience = audience_of(self.scope["principal"])  # decrypted or masked sensitive content
        self.event_filter.access_trail = self.audience.access_trail
        self.filter_key = filter_key(self.event_filter)
        self.pending: asyncio.Queue[Selection] = asyncio.Queue()
        self.waiting = 0  # events in pending
        self.queue_limit = auditlog_setting("TAIL_QUEUE_EVENTS")
        self.lagged = False
        self.dropped: tuple | None = None  # the earliest position of the events not queued since the lag
        self.replayed: set[str] = set()
        self.joined_at = timezone.now()
        # Where a lagging client resumes: after the last event sent; before one, where it started.
        self.resume_key = since or (self.joined_at, uuid.UUID(int=0))
        self.group = live_group(self.tenant.schema_name)
        await self.channel_layer.group_add(self.group, self.channel_name)
        trail_note_stream(self.scope, ROUTE_NAME, self.event_filter, replay=since is not None)
        self.writer = asyncio.create_task(self._write(since))

    async def disconnect(self, code):
        if self.writer is not None:
            self.writer.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """Clients have nothing to say; whatever they send is ignored."""

    async def dispatch(self, message):
        """Live batches skip channels' per-message close_old_connections (a thread hop per batch and connection):
        their handler touches no database; everything else is dispatched as channels does."""
        if message["type"] == MESSAGE_TYPE:
            await self.events_batch(message)
        else:
            await super().dispatch(message)

    async def events_batch(self, message):
        """A batch from ingest.live: queue what matches, without waiting; more than the limit waiting is a lag."""
        selection = await self._select(message["events"])
        if not selection.events:
            return
        if not self.lagged and self.waiting >= self.queue_limit:
            self.lagged = True  # the writer says so at its next send; nothing more is queued
        if self.lagged:
            self.dropped = min(filter(None, [self.dropped, *self._unsent_keys(selection.events)]), default=None)
            return
        self.pending.put_nowait(selection)
        self.waiting += len(selection.events)

    async def _select(self, raw: bytes) -> Selection:
        """The batch as this connection's filter and audience select and show it. When a data key is not yet in
        this process's cache (rarely: once per key and cache period), the batch is rendered in a database
        thread, which loads the key, and then selected from that rendering."""
        while True:
            try:
                return select(raw, self.event_filter, self.filter_key, self.tenant, self.audience)
            except KeyNotLoaded:
                await in_tenant(self.tenant, render_batch, raw, self.tenant, self.audience, load=True)

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
            page = await in_tenant(
                self.tenant, replay_page, self.event_filter, self.audience, after=after, limit=page_size
            )
            for start in range(0, len(page), self.batch_limit):
                chunk = page[start : start + self.batch_limit]
                if not await self._deliver(chunk):
                    return False
                self.replayed.update(event.id for event in chunk if event.received_at >= horizon)
            if len(page) < page_size:
                return True
            after = page[-1].key

    async def _live(self):
        heartbeat = auditlog_setting("TAIL_HEARTBEAT_SECONDS")
        while True:
            try:
                selections = [await asyncio.wait_for(self.pending.get(), timeout=heartbeat)]
            except TimeoutError:
                await self._send_json({"type": "heartbeat"})
                continue
            if self.batch_limit > 1:  # one message for what is ready
                while not self.pending.empty() and len(selections) < self.batch_limit:
                    selections.append(self.pending.get_nowait())
            ready = [e for selection in selections for e in selection.events]
            self.waiting -= len(ready)
            if self.replayed:
                fresh = [e for e in ready if e.id not in self.replayed]
                self.replayed.difference_update(e.id for e in ready)
            else:
                fresh = ready
            if len(selections) == 1 and len(fresh) == len(ready) and self.batch_limit > 1:
                if not await self._deliver(fresh, text=selections[0].text):  # the process's shared text
                    return
                continue
            step = self.batch_limit
            for start in range(0, len(fresh), step):
                if not await self._deliver(fresh[start : start + step]):
                    return

    async def _deliver(self, events, text: str | None = None) -> bool:
        """Send the events (one `event` message, or one `events` message in batch mode); or, once the client
        has lagged, say where to resume and close (False)."""
        if self.lagged:
            await self._send_json({"type": "lagged", "resume": cursor_encode(*self._resume_from(events))})
            await self.close(code=LAGGED)
            return False
        if text is None:
            text = events[0].text if self.batch_limit == 1 else batch_text(events)
        await self.send(text_data=text)
        self.resume_key = events[-1].key
        return True

    def _unsent_keys(self, events) -> list[tuple]:
        return [e.key for e in events if e.id not in self.replayed]

    def _resume_from(self, unsent: list[TailEvent]) -> tuple:
        """After the last event sent, unless an event not sent comes earlier (events arrive in commit order,
        not in (occurred_at, id) order): then just before it, so that nothing is lost (some may repeat)."""
        waiting = [e for _ in range(self.pending.qsize()) for e in self.pending.get_nowait().events]
        earliest = min(filter(None, [self.dropped, *self._unsent_keys([*unsent, *waiting])]), default=None)
        return self.resume_key if earliest is None or earliest > self.resume_key else position_before(earliest)

    async def _send_json(self, message: dict):
        await self.send(text_data=orjson.dumps(message).decode())
