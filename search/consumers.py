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

The connections of one tenant in one process share one subscription to its group (TenantFeed): a batch is
received and deserialized once and handed to each connection in turn, rather than through a channel-layer
queue, a deserialization and two task wake-ups per connection. The writer waits on its queue alone; an idle
timer puts a heartbeat there (no timeout task per message).
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


class TenantFeed:
    """One process's subscription to a tenant's live group, on one event loop, shared by its connections there."""

    def __init__(self, layer, group: str):
        self.layer, self.group = layer, group
        self.loop = asyncio.get_running_loop()
        self.consumers: dict[LiveTailConsumer, None] = {}  # an ordered set
        self.channel: str | None = None
        self.receiver: asyncio.Task | None = None
        self.started = asyncio.ensure_future(self._start())

    async def _start(self):
        self.channel = await self.layer.new_channel("tail!")
        await self.layer.group_add(self.group, self.channel)
        self.receiver = asyncio.create_task(self._receive())
        self.receiver.add_done_callback(self._receiver_done)

    def _receiver_done(self, task: asyncio.Task):
        if not task.cancelled() and task.exception() is not None:
            logger.error("live tail of %s: the feed stopped", self.group, exc_info=task.exception())

    async def _receive(self):
        while True:
            message = await self.layer.receive(self.channel)  # the layer reconnects to Redis by itself
            if message.get("type") != MESSAGE_TYPE:
                continue
            for consumer in list(self.consumers):
                try:
                    await consumer.events_batch(message["events"])
                except Exception:  # noqa: BLE001 - one connection's failure must not starve the others
                    logger.exception("live tail of %s: a batch not handed to a connection", self.group)

    async def stop(self):
        try:
            await self.started
        except Exception:  # noqa: BLE001 - never subscribed: nothing to undo
            return
        self.receiver.cancel()
        try:
            await self.receiver
        except asyncio.CancelledError:
            pass
        await self.layer.group_discard(self.group, self.channel)


_FEEDS: dict[str, TenantFeed] = {}


async def feed_join(layer, group: str, consumer: "LiveTailConsumer") -> None:
    """Add the connection to the process's feed of the group (made on first use); returns once it is subscribed."""
    feed = _FEEDS.get(group)
    if feed is None or feed.loop is not asyncio.get_running_loop():  # another loop's (tests run one per test)
        feed = _FEEDS[group] = TenantFeed(layer, group)
    feed.consumers[consumer] = None
    try:
        await asyncio.shield(feed.started)
    except Exception:
        await feed_leave(group, consumer)
        raise


async def feed_leave(group: str, consumer: "LiveTailConsumer") -> None:
    """Take the connection off its feed; the last one out ends the subscription."""
    feed = _FEEDS.get(group)
    if feed is None or consumer not in feed.consumers:
        return
    del feed.consumers[consumer]
    if not feed.consumers:
        del _FEEDS[group]
        await feed.stop()


HEARTBEAT = Selection(())  # put on a writer's queue by its idle timer


class LiveTailConsumer(AsyncWebsocketConsumer):
    group: str | None = None
    writer: asyncio.Task | None = None
    idle_timer: asyncio.TimerHandle | None = None

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
        await feed_join(self.channel_layer, self.group, self)
        trail_note_stream(self.scope, ROUTE_NAME, self.event_filter, replay=since is not None)
        self.writer = asyncio.create_task(self._write(since))

    async def disconnect(self, code):
        if self.writer is not None:
            self.writer.cancel()
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.group is not None:
            await feed_leave(self.group, self)

    async def receive(self, text_data=None, bytes_data=None):
        """Clients have nothing to say; whatever they send is ignored."""

    async def events_batch(self, raw: bytes):
        """A batch from ingest.live (through the feed): queue what matches, without waiting (unless a data key must
        be loaded first); more than the limit waiting is a lag."""
        selection = await self._select(raw)
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
        finally:
            if self.idle_timer is not None:
                self.idle_timer.cancel()

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

    def _idle_check(self):
        """The idle timer: a heartbeat on the queue once the writer has taken nothing for TAIL_HEARTBEAT_SECONDS."""
        loop = asyncio.get_running_loop()
        due = self.taken_at + self.heartbeat
        if loop.time() >= due:
            if self.pending.empty():  # else the writer is busy, not idle
                self.pending.put_nowait(HEARTBEAT)
            self.taken_at = loop.time()
            due = self.taken_at + self.heartbeat
        self.idle_timer = loop.call_at(due, self._idle_check)

    async def _live(self):
        loop = asyncio.get_running_loop()
        self.heartbeat = auditlog_setting("TAIL_HEARTBEAT_SECONDS")
        self.taken_at = loop.time()
        self.idle_timer = loop.call_at(self.taken_at + self.heartbeat, self._idle_check)
        while True:
            selection = await self.pending.get()
            self.taken_at = loop.time()
            if selection is HEARTBEAT:
                await self._send_json({"type": "heartbeat"})
                continue
            selections = [selection]
            if self.batch_limit > 1:  # one message for what is ready
                while not self.pending.empty() and len(selections) < self.batch_limit:
                    selection = self.pending.get_nowait()
                    if selection is not HEARTBEAT:  # not idle after all
                        selections.append(selection)
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
