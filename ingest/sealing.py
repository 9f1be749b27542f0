"""The tenant's hash chain: sealing stored events into it, verifying it, and anchoring it below retention.

Each sealed event gets `sequence` (1, 2, 3... per tenant, no gap) and `hash` = SHA-256 (hex) of the previous
event's hash, the sequence and the canonical form of the event as stored (link_hash). The canonical form is
PostgreSQL's text of a jsonb array of every stored content column, in a fixed order (CANONICAL_SQL): the masked
values and the encryption envelopes as stored, timestamps as microseconds since the epoch; nothing of the
session (time zone, driver) changes it. Any edit of a content column, a deleted row (a gap) or an inserted one
(a duplicate sequence, or a hash that does not fit) breaks the chain at that event.

Order and horizon. The chain follows (received_at, id). `received_at` is set by the web process before its
transaction writes, so an event may commit after events received later. The sealer therefore seals only below a
horizon: the database clock less SEAL_MARGIN_SECONDS, and never later than the start of the oldest open
transaction that has written something (pg_stat_activity: `backend_xid` set) in this database, less the same
margin; an open transaction's rows were received before it started. Read-only transactions (exports, searches)
do not hold it back; nor do sealers (their application_name). The database role must see the other sessions'
transactions (the same role as the web processes, or pg_read_all_stats), and the margin also covers the skew
between the web hosts' clocks and the database's. A transaction open longer than HORIZON_WAIT_SECONDS
stops holding it back, so a forgotten session cannot stop sealing. Chosen over a watermark table with an
advisory lock taken by each ingest transaction because ingestion then waits for nothing and writes nothing more.

Nothing is ever skipped. A run seals the unsealed events after its frontier (the newest sealed event's
(received_at, id)), read in order from a partial index of the unsealed events; and every FULL_SWEEP_SECONDS it
reads that index from its start, so an event whose write began more than the margin after it was received (a
stalled process) is still chained, after events received later, and logged. The index is read in order (an
index scan marks the entries of rows sealed since the last vacuum dead as it passes them), never by a bitmap
of all its entries, which rechecks each in the table.

One sealer at a time per tenant (a transaction-level advisory lock; a second one gives way), one transaction per
batch: the updates of the sealed rows and the chain head (`ingest_chain`). Ingestion takes no lock the sealer
holds; but a sealed row is rewritten (PostgreSQL writes a new version of it, in every index), which costs the
database more than the row's insert did: that work runs beside ingestion. Retention may remove the oldest
events once their last one is recorded as an anchor (chain_anchor_set): verification then starts from the newest
anchor.
"""

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

from django.db import connection, transaction

from .relay import outbox_handlers
from .tasks import relay_kick

logger = logging.getLogger(__name__)

SEAL_MARGIN_SECONDS = 0.5  # covers the time from receiving an event to its transaction's first write
HORIZON_WAIT_SECONDS = 60.0  # an open writing transaction older than this no longer holds the horizon back
BATCH_SIZE = 5000
RUN_SECONDS = 10.0  # a run seals batches until nothing is left below the horizon, or for this long
FULL_SWEEP_SECONDS = 60.0  # how often a run also looks below its frontier (events committed long after received)
SEALER_NAME = "auditlog-sealer"  # the sealer's application_name while it seals; other sealers ignore it
ZERO_HASH = "0" * 64  # the link before sequence 1
VERIFY_FETCH_ROWS = 2000
VERIFY_MAX_EVENTS = 1_000_000  # per request of GET /logs/verify (15 to 45 s on 2 cores); its `next` goes on
_LOCK_CLASS = 0x5EA1  # first key of the tenant's advisory lock; the second is its schema name's hash

# Every stored column that matters, as stored; not `search_vector` (derived), nor `sequence` and `hash`.
CANONICAL_SQL = (
    "jsonb_build_array(id::text, (extract(epoch FROM occurred_at) * 1000000)::bigint, "
    "(extract(epoch FROM received_at) * 1000000)::bigint, actor_id, actor_type, actor_name, actor_email, "
    "session_id, action, resource_type, resource_id, resource_name, severity, message, ip::text, user_agent, "
    "request_id, correlation_id, changes, to_jsonb(changed_fields), metadata, source, to_jsonb(tags), "
    "to_jsonb(masked_fields))::text"
)

_HORIZON_SQL = """
SELECT least(
    clock_timestamp(),
    (SELECT min(xact_start) FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend' AND backend_xid IS NOT NULL
       AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM %(sealer)s
       AND xact_start > clock_timestamp() - make_interval(secs => %(wait)s))
) - make_interval(secs => %(margin)s)
"""
# The next events to seal: after the frontier (the newest sealed event's position), or from the start of the
# unsealed index for a full sweep. An ordered index scan, so the entries of rows sealed since the last vacuum
# are skipped (marked dead once seen) rather than rechecked in the table.
_PICK_SQL = (
    f"SELECT id, occurred_at, received_at, {CANONICAL_SQL} FROM ingest_event "
    "WHERE sequence IS NULL AND received_at < %(horizon)s {after} ORDER BY received_at, id LIMIT %(limit)s"
)
_AFTER_FRONTIER = "AND (received_at, id) > (%(received_at)s, %(id)s)"
# Each row by its primary key (occurred_at, id), in its partition. No `sequence IS NULL` here: the planner would
# read the unsealed index whole; the tenant's lock, held since the pick, is what keeps the rows unsealed.
_SEAL_SQL = (
    "UPDATE ingest_event e SET sequence = s.sequence, hash = s.hash "
    "FROM unnest(%s::uuid[], %s::timestamptz[], %s::bigint[], %s::text[]) AS s(id, occurred_at, sequence, hash) "
    "WHERE e.occurred_at = s.occurred_at AND e.id = s.id"
)
_OUTBOX_SQL = (
    "INSERT INTO ingest_outbox (event_id, occurred_at, pending) "
    "SELECT id, at, %s::text[] FROM unnest(%s::uuid[], %s::timestamptz[]) AS s(id, at)"
)

_SEALED_HANDLERS: list[str] = []


def sealed_handler_register(name: str) -> None:
    """Ask for sealed events again: the relay handler of this name gets each event once more once it is sealed
    (e.g. a mirror showing `sequence` and `hash`). The handler must also be registered with the relay."""
    if name not in _SEALED_HANDLERS:
        _SEALED_HANDLERS.append(name)


def sealed_handler_unregister(name: str) -> None:
    if name in _SEALED_HANDLERS:
        _SEALED_HANDLERS.remove(name)


def link_hash(previous: str, sequence: int, canonical: str) -> str:
    """The hash of the event at `sequence` whose canonical form is `canonical`, after the link `previous`."""
    return hashlib.sha256(f"{previous}\n{sequence}\n{canonical}".encode()).hexdigest()


class ChainError(Exception):
    """The chain cannot do what was asked (an anchor out of range, or over a broken range)."""


@dataclass(frozen=True)
class Link:
    sequence: int
    hash: str


def _lock(cursor, *, wait: bool) -> bool:
    """The tenant's sealing lock, for the current transaction."""
    if wait:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [_LOCK_CLASS])
        return True
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(current_schema()))", [_LOCK_CLASS])
    return cursor.fetchone()[0]


def chain_head() -> dict:
    """The last sealed link of the current tenant's chain: {"sequence", "hash", "sealed_at"} (sequence 0: none;
    also when its row was deleted, so that verification finds every sealed event beyond it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequence, hash, sealed_at FROM ingest_chain WHERE id = 1")
        sequence, hash_, sealed_at = cursor.fetchone() or (0, ZERO_HASH, None)
    return {"sequence": sequence, "hash": hash_, "sealed_at": sealed_at}


def chain_anchor() -> Link:
    """The newest anchor: the link retention removed the events up to (sequence 0 and ZERO_HASH when none)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequence, hash FROM ingest_chain_anchor ORDER BY sequence DESC LIMIT 1")
        row = cursor.fetchone()
    return Link(*row) if row else Link(0, ZERO_HASH)


def _frontier(cursor, head_sequence: int) -> tuple | None:
    """(received_at, id) of the newest sealed event: events after it are the ones to seal."""
    if not head_sequence:
        return None
    cursor.execute("SELECT received_at, id FROM ingest_event WHERE sequence = %s LIMIT 1", [head_sequence])
    return cursor.fetchone()


def _sweep_due(cursor) -> bool:
    cursor.execute(
        "SELECT swept_at IS NULL OR swept_at < clock_timestamp() - make_interval(secs => %s) "
        "FROM ingest_chain WHERE id = 1",
        [FULL_SWEEP_SECONDS],
    )
    return cursor.fetchone()[0]


def sealing_pending() -> bool:
    """Whether the current tenant has events to seal after its frontier, or a full sweep is due (index probes)."""
    with connection.cursor() as cursor:
        if _sweep_due(cursor):
            return True
        cursor.execute("SELECT sequence FROM ingest_chain WHERE id = 1")
        frontier = _frontier(cursor, cursor.fetchone()[0])
        after, params = (_AFTER_FRONTIER, {"received_at": frontier[0], "id": frontier[1]}) if frontier else ("", None)
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM ingest_event WHERE sequence IS NULL {after})", params)
        return cursor.fetchone()[0]


def events_seal(
    *, margin: float = SEAL_MARGIN_SECONDS, batch_size: int = BATCH_SIZE, run_seconds: float = RUN_SECONDS
) -> int:
    """Chain the current tenant's committed, unsealed events below the horizon; returns how many were sealed.

    Returns 0 at once when another sealer of the tenant is at work (it seals what this one would have).
    """
    schema_name = connection.schema_name
    sealed = 0
    deadline = time.monotonic() + run_seconds
    while True:
        count = _seal_batch(margin=margin, batch_size=batch_size)
        if count is None:
            break
        sealed += count
        if count < batch_size or time.monotonic() > deadline:
            break
    if sealed:
        logger.info("sealed %d events in %s", sealed, schema_name)
    return sealed


def _seal_batch(*, margin: float, batch_size: int) -> int | None:
    """One batch in one transaction; None when another sealer holds the tenant's lock."""
    handlers = [name for name in _SEALED_HANDLERS if name in outbox_handlers()]
    with transaction.atomic(), connection.cursor() as cursor:
        if not _lock(cursor, wait=False):
            return None
        cursor.execute("SET LOCAL application_name = %s", [SEALER_NAME])
        cursor.execute("SET LOCAL enable_bitmapscan = off")  # the unsealed index read in order (see above)
        cursor.execute(_HORIZON_SQL, {"sealer": SEALER_NAME, "wait": HORIZON_WAIT_SECONDS, "margin": margin})
        horizon = cursor.fetchone()[0]
        cursor.execute("SELECT sequence, hash FROM ingest_chain WHERE id = 1 FOR UPDATE")
        head = cursor.fetchone()
        if head is None:  # deleted: starting again from 1 would seal a second chain over the first
            raise ChainError(f"The chain head of {connection.schema_name} is missing; nothing sealed.")
        sequence, previous = head
        frontier = _frontier(cursor, sequence)
        sweep = frontier is None or _sweep_due(cursor)
        params = {"horizon": horizon, "limit": batch_size}
        if not sweep:
            params.update(received_at=frontier[0], id=frontier[1])
        cursor.execute(_PICK_SQL.format(after="" if sweep else _AFTER_FRONTIER), params)
        rows = cursor.fetchall()
        if sweep and len(rows) < batch_size:  # all found: the next full sweep in FULL_SWEEP_SECONDS
            cursor.execute("UPDATE ingest_chain SET swept_at = clock_timestamp() WHERE id = 1")
        if not rows:
            return 0
        ids, occurred, sequences, hashes = [], [], [], []
        for event_id, occurred_at, _received_at, canonical in rows:
            sequence += 1
            previous = link_hash(previous, sequence, canonical)
            ids.append(event_id)
            occurred.append(occurred_at)
            sequences.append(sequence)
            hashes.append(previous)
        if frontier and rows[0][2] < frontier[0]:
            logger.warning(
                "%s: events received at %s chained after one received at %s (their write began past the margin)",
                connection.schema_name,
                rows[0][2].isoformat(),
                frontier[0].isoformat(),
            )
        cursor.execute(_SEAL_SQL, [ids, occurred, sequences, hashes])
        if cursor.rowcount != len(rows):  # rows deleted meanwhile: chaining them would leave gaps
            raise ChainError(f"{len(rows) - cursor.rowcount} of {len(rows)} events went while being sealed")
        cursor.execute(
            "UPDATE ingest_chain SET sequence = %s, hash = %s, sealed_at = clock_timestamp() WHERE id = 1",
            [sequence, previous],
        )
        if handlers:
            cursor.execute(_OUTBOX_SQL, [handlers, ids, occurred])
            schema_name = connection.schema_name
            transaction.on_commit(lambda: relay_kick(schema_name))
    return len(rows)


@dataclass
class Verification:
    """What chain_verify found. `last` is the last link checked (for anchors)."""

    ok: bool = True
    checked: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None
    broken_at: dict | None = None
    head: dict = field(default_factory=dict)
    anchor: Link | None = None
    last: Link | None = None
    next_from: int | None = None  # the range went on past max_events: where the next verification starts

    def as_dict(self) -> dict:
        out = {"ok": self.ok, "checked": self.checked}
        if self.ok:
            out["first_sequence"] = self.first_sequence
            out["last_sequence"] = self.last_sequence
        else:
            out["broken_at"] = self.broken_at
        out["head"] = self.head
        out["anchor"] = {"sequence": self.anchor.sequence, "hash": self.anchor.hash} if self.anchor.sequence else None
        return out


def _rows(first: int, last: int) -> Iterator[tuple]:
    """(sequence, id, hash, canonical) of the sealed events in [first, last], by sequence, from a server-side
    cursor (bounded memory whatever the range)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT sequence, id, hash, {CANONICAL_SQL} FROM ingest_event "
            "WHERE sequence BETWEEN %s AND %s ORDER BY sequence, id",
            [first, last],
        )
        while batch := cursor.fetchmany(VERIFY_FETCH_ROWS):
            yield from batch


def _groups(rows: Iterator[tuple]) -> Iterator[tuple[int, list[tuple]]]:
    """Rows grouped by sequence (a group of more than one is a duplicate sequence)."""
    group: list[tuple] = []
    for row in rows:
        if group and row[0] != group[0][0]:
            yield group[0][0], group
            group = []
        group.append(row)
    if group:
        yield group[0][0], group


def _broken(result: Verification, sequence: int, event_id, reason: str) -> Verification:
    result.ok = False
    result.broken_at = {"sequence": sequence, "event_id": str(event_id) if event_id else None, "reason": reason}
    return result


def chain_verify(
    *, from_sequence: int | None = None, to_sequence: int | None = None, max_events: int | None = None
) -> Verification:
    """Recompute the current tenant's chain over [from_sequence, to_sequence] from the stored rows.

    The range is clipped to what is sealed and above the newest anchor, and to its first max_events (next_from
    then says where the rest starts). A range starting above the anchor is
    linked to the stored hash of the event before it (verified with it only when the range starts at the
    anchor). Reports the first broken link: "missing sequence" (no event at a sequence: deleted), "hash
    mismatch" (the event's hash does not fit its content and the previous link: edited, or forged), "unexpected
    row" (a second event at one sequence, or one sealed beyond the head: inserted).
    """
    head, anchor = chain_head(), chain_anchor()
    result = Verification(head=head, anchor=anchor)
    first = max(from_sequence or 1, anchor.sequence + 1)
    last = head["sequence"] if to_sequence is None else min(to_sequence, head["sequence"])
    if first > last:  # nothing sealed in the range; if it reaches the head, nothing may be sealed beyond it either
        beyond = _sealed_beyond_head() if to_sequence is None or to_sequence > head["sequence"] else None
        return _broken(result, beyond[0], beyond[1], "unexpected row") if beyond else result
    if max_events is not None and last - first + 1 > max_events:
        last, result.next_from = first + max_events - 1, first + max_events
    expected, previous, last_id = first, anchor.hash, None
    start = first - 1 if first > anchor.sequence + 1 else first
    # The server-side cursor lives in the transaction; closed (by closing its reader) before it ends, even early.
    with transaction.atomic(), closing(_groups(_rows(start, last))) as rows:
        if first > anchor.sequence + 1:  # the link before the range: taken as stored
            sequence, group = next(rows, (None, []))
            if sequence != first - 1:
                return _broken(result, first - 1, None, "missing sequence")
            if len(group) > 1:
                return _broken(result, first - 1, group[1][1], "unexpected row")
            previous = group[0][2]
        for sequence, group in rows:
            if sequence != expected:
                return _broken(result, expected, None, "missing sequence")
            fitting = [row for row in group if row[2] == link_hash(previous, sequence, row[3])]
            if not fitting:
                return _broken(result, sequence, group[0][1], "hash mismatch")
            if len(group) > 1:  # the one that does not fit; when each does (a forged link), the second
                extra = next((r for r in group if r not in fitting), group[1])
                return _broken(result, sequence, extra[1], "unexpected row")
            previous, last_id = fitting[0][2], fitting[0][1]
            result.checked += 1
            expected += 1
    if expected <= last:
        return _broken(result, expected, None, "missing sequence")
    if last == head["sequence"]:
        if previous != head["hash"]:
            return _broken(result, last, last_id, "hash mismatch")
        beyond = _sealed_beyond_head()
        if beyond:
            return _broken(result, beyond[0], beyond[1], "unexpected row")
    result.first_sequence, result.last_sequence, result.last = first, last, Link(last, previous)
    return result


def _sealed_beyond_head() -> tuple | None:
    """The first event whose sequence is beyond the chain head (read in one snapshot with it: the sealer may be
    moving the head meanwhile)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequence, id FROM ingest_event WHERE sequence > coalesce((SELECT sequence FROM ingest_chain), 0) "
            "ORDER BY sequence, id LIMIT 1"
        )
        return cursor.fetchone()


@transaction.atomic
def chain_anchor_set(*, sequence: int) -> Link:
    """Record the link at `sequence` as an anchor, before retention removes the events up to it.

    The chain up to it is verified first (from the previous anchor); a broken range is refused (ChainError), so
    an anchor never hides a break. Returns the anchor.
    """
    with connection.cursor() as cursor:
        _lock(cursor, wait=True)  # the head does not move meanwhile
    current = chain_anchor()
    if sequence <= current.sequence:
        raise ChainError(f"The chain is already anchored at {current.sequence}.")
    if sequence > chain_head()["sequence"]:
        raise ChainError(f"Sequence {sequence} is not sealed yet.")
    verification = chain_verify(from_sequence=current.sequence + 1, to_sequence=sequence)
    if not verification.ok:
        raise ChainError(f"The chain is broken at {verification.broken_at}; no anchor recorded.")
    anchor = verification.last
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ingest_chain_anchor (sequence, hash) VALUES (%s, %s)", [anchor.sequence, anchor.hash]
        )
    return anchor
