"""Writes of events: validate, deduplicate by idempotency key, store (one transaction)."""

import logging
import operator
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

import orjson
import psycopg
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from auditlog.conf import auditlog_setting
from auditlog.errors import FieldErrors, TenantMismatch
from tenants.selectors import tenant_policy

from .crypto import encrypt_row
from .live import live_publish
from .masking import mask_row
from .models import Event
from .tasks import relay_kick
from .uuid7 import uuid7
from .validation import EventInvalid, Limits, validate_event

logger = logging.getLogger(__name__)

# The source of the events the service writes itself (the access trail: who read the log); clients may not use it,
# so a trail event is always the service's own and never an imitation.
ACCESS_TRAIL_SOURCE = "auditlog"
RESERVED_SOURCE_MESSAGE = f"'{ACCESS_TRAIL_SOURCE}' is reserved for the service's own events."

COLUMNS = (
    "id",
    "occurred_at",
    "received_at",
    "actor_id",
    "actor_type",
    "actor_name",
    "actor_email",
    "session_id",
    "action",
    "resource_type",
    "resource_id",
    "resource_name",
    "severity",
    "message",
    "ip",
    "user_agent",
    "request_id",
    "correlation_id",
    "changes",
    "changed_fields",
    "metadata",
    "source",
    "tags",
    "masked_fields",
)
_JSON_COLUMNS = {"changes", "metadata"}
_ARRAY_COLUMNS = {"changed_fields", "tags", "masked_fields"}  # text[]
_COLUMN_LIST = ", ".join(COLUMNS)
_ROW_VALUES = operator.itemgetter(*COLUMNS)
_JSON_INDEXES = [COLUMNS.index(c) for c in _JSON_COLUMNS]
_ARRAY_INDEXES = [COLUMNS.index(c) for c in _ARRAY_COLUMNS]
_PLACEHOLDERS = ", ".join("%s::jsonb" if c in _JSON_COLUMNS else "%s" for c in COLUMNS)


@lru_cache(maxsize=1024)
def _sql_for(schema: str) -> tuple[str, str, str]:
    """Statements naming the tenant's tables explicitly (no search_path needed).

    One event: its row and its outbox entry in a single statement (atomic, one round trip).
    Many: COPY, then the outbox entries (COPY too), inside the caller's transaction.
    """
    table = sql.Identifier(schema, "ingest_event").as_string()
    outbox = sql.Identifier(schema, "ingest_outbox").as_string()
    return (
        f"WITH e AS (INSERT INTO {table} ({_COLUMN_LIST}) VALUES ({_PLACEHOLDERS}) RETURNING id, occurred_at) "
        f"INSERT INTO {outbox} (event_id, occurred_at) SELECT id, occurred_at FROM e",
        f"COPY {table} ({_COLUMN_LIST}) FROM STDIN",
        f"COPY {outbox} (event_id, occurred_at) FROM STDIN",
    )


@dataclass
class StoreResult:
    ids: list  # one per input row, in input order (the original's id for a duplicate)
    created: list[bool]


def _db_value(row: dict, column: str):
    value = row.get(column)
    if column in _JSON_COLUMNS:
        return None if value is None else orjson.dumps(value).decode()
    return value


def _array_literal(values: list[str]) -> str:
    """A text[] in PostgreSQL's array syntax: every element quoted, backslash and quote escaped."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _copy_values(row: dict) -> list:
    """A row's values for COPY (text format), in COLUMNS order: JSON as text, and text[] already in array syntax,
    which the driver would otherwise build element by element in Python (most of COPY's client time)."""
    values = list(_ROW_VALUES(row))
    for index in _JSON_INDEXES:
        if values[index] is not None:
            values[index] = orjson.dumps(values[index]).decode()
    for index in _ARRAY_INDEXES:
        if values[index] is not None:
            values[index] = _array_literal(values[index])
    return values


def _idempotency_key(row: dict, header_key: str | None) -> str | None:
    if row.get("client_event_id"):
        return f"e:{row['id']}"
    if header_key:
        return f"h:{header_key}"
    return None


def _check_tenant(rows: list[dict], tenant_slug: str):
    if any(r["tenant_id"] is not None and r["tenant_id"] != tenant_slug for r in rows):
        raise TenantMismatch("tenant_id does not match the tenant of the credential.")


def _claim_keys(keyed: dict[str, dict]) -> dict[str, object]:
    """Insert idempotency keys; returns {key: original event id} for those that already existed."""
    if not keyed:
        return {}
    keys = sorted(keyed)  # a stable order, so two overlapping batches cannot deadlock
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ingest_idempotencykey (key, event_id, occurred_at, created_at) "
            "SELECT * FROM unnest(%s::text[], %s::uuid[], %s::timestamptz[], %s::timestamptz[]) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            [
                keys,
                [keyed[k]["id"] for k in keys],
                [keyed[k]["occurred_at"] for k in keys],
                [keyed[k]["received_at"] for k in keys],
            ],
        )
        claimed = {row[0] for row in cursor.fetchall()}
        taken = [k for k in keys if k not in claimed]
        if not taken:
            return {}
        cursor.execute("SELECT key, event_id FROM ingest_idempotencykey WHERE key = ANY(%s)", [taken])
        return dict(cursor.fetchall())


def _write(rows: list[dict]):
    """Insert rows into the current tenant's table.

    On the driver's connection, with server-side binding and a prepared INSERT: the
    hot path of single-event ingest pays neither client-side query building nor a
    SET search_path round trip. It joins Django's transaction, being the same connection.
    """
    schema = connection.schema_name
    insert_sql, copy_sql, outbox_sql = _sql_for(schema)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        if len(rows) == 1:
            cursor.execute(insert_sql, [_db_value(rows[0], c) for c in COLUMNS], prepare=True)
        else:
            with cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(_copy_values(row))
            with cursor.copy(outbox_sql) as copy:
                for row in rows:
                    copy.write_row((row["id"], row["occurred_at"]))
    transaction.on_commit(lambda: _after_commit(schema, rows))


_UNSEALED = {"sequence": None, "hash": None}


def _after_commit(schema: str, rows: list[dict]) -> None:
    """Side effects of stored events: the live tail now, the relay soon."""
    # The API shape needs the columns as attributes only: a namespace of the row (whose few other keys event_json
    # ignores) is much cheaper than a model instance.
    live_publish(schema, [SimpleNamespace(**{**_UNSEALED, **row}) for row in rows])
    relay_kick(schema)


def _store(rows: list[dict], header_key: str | None = None) -> StoreResult:
    """Claim idempotency keys and write the new rows, in one transaction."""
    if len(rows) == 1 and _idempotency_key(rows[0], header_key) is None:
        # One statement is its own transaction: skip BEGIN/COMMIT round trips on the hot path.
        rows[0].setdefault("id", None)
        rows[0]["id"] = rows[0]["id"] or uuid7()
        _write(rows)
        return StoreResult(ids=[rows[0]["id"]], created=[True])
    with transaction.atomic():
        return _store_keyed(rows, header_key)


def _store_keyed(rows: list[dict], header_key: str | None) -> StoreResult:
    keyed: dict[str, dict] = {}
    row_keys = []
    for row in rows:
        row.setdefault("id", None)
        if row["id"] is None:
            row["id"] = uuid7()
        key = _idempotency_key(row, header_key)
        row_keys.append(key)
        if key is not None and key not in keyed:
            keyed[key] = row
    existing = _claim_keys(keyed)

    ids, created, fresh = [], [], []
    for row, key in zip(rows, row_keys, strict=True):
        if key is not None and (key in existing or keyed[key] is not row):
            ids.append(existing.get(key) or keyed[key]["id"])
            created.append(False)
        else:
            ids.append(row["id"])
            created.append(True)
            fresh.append(row)
    if fresh:
        _write(fresh)
    return StoreResult(ids=ids, created=created)


def _protect(rows: list[dict]) -> None:
    """Mask, then encrypt, validated rows of the current tenant (in place), before anything stores them."""
    tenant = connection.tenant
    policy = tenant_policy(tenant)
    for row in rows:
        mask_row(row, policy)
        encrypt_row(row, tenant, policy)


def event_create(*, tenant_slug: str, body, idempotency_key: str | None = None) -> tuple[Event, bool]:
    """Store one event. Returns (event, created); a repeat returns the original with created=False."""
    now = timezone.now()
    try:
        row = validate_event(body, tenant_slug=tenant_slug, now=now)
    except EventInvalid as exc:
        raise FieldErrors(exc.errors) from None
    if row["source"] == ACCESS_TRAIL_SOURCE:
        raise FieldErrors({"source": [RESERVED_SOURCE_MESSAGE]})
    _check_tenant([row], tenant_slug)
    _protect([row])
    result = _store([row], header_key=idempotency_key)
    if result.created[0]:
        return Event(**{c: row[c] for c in COLUMNS}), True
    return Event.objects.get(id=result.ids[0]), False


def events_bulk_create(*, tenant_slug: str, events) -> dict:
    """Store up to BULK_MAX_EVENTS events, all or nothing."""
    limit = auditlog_setting("BULK_MAX_EVENTS")
    if not isinstance(events, list) or not events:
        raise FieldErrors({"events": ["A non-empty list of events is required."]})
    if len(events) > limit:
        raise FieldErrors({"events": [f"At most {limit} events per request."]})
    now, limits = timezone.now(), Limits.current()
    rows, errors, bad = [], {}, []
    for index, body in enumerate(events):
        try:
            row = validate_event(body, tenant_slug=tenant_slug, now=now, limits=limits)
        except EventInvalid as exc:
            bad.append(index)
            for path, messages in exc.errors.items():
                errors[f"events.{index}.{path}"] = messages
            continue
        if row["source"] == ACCESS_TRAIL_SOURCE:
            bad.append(index)
            errors[f"events.{index}.source"] = [RESERVED_SOURCE_MESSAGE]
        rows.append(row)
    if errors:
        raise FieldErrors(
            errors, message=f"{len(bad)} of {len(events)} events are invalid; nothing was stored.", invalid_indexes=bad
        )
    _check_tenant(rows, tenant_slug)
    _protect(rows)
    result = _store(rows)
    created = sum(result.created)
    return {"created": created, "duplicates": len(rows) - created, "ids": result.ids}


def events_record(tenant, bodies: list[dict]) -> int:
    """Store events the service writes itself (the access trail), outside any request, in one bulk write.

    The path of client events (validation, masking, encryption, outbox, live tail) but no HTTP, no rate limit and
    no reserved-source check; a body that does not validate is logged and left out rather than failing the others.
    Runs in the tenant's schema and returns to public. Returns the number of events stored.
    """
    now, limits = timezone.now(), Limits.current()
    rows = []
    for body in bodies:
        try:
            rows.append(validate_event(body, tenant_slug=tenant.slug, now=now, limits=limits))
        except EventInvalid as exc:
            logger.error("%s event of %s not recorded: %s", body.get("action"), tenant.schema_name, exc.errors)
    if not rows:
        return 0
    connection.set_tenant(tenant)
    try:
        _protect(rows)
        with transaction.atomic():
            _store_keyed(rows, None)
    finally:
        connection.set_schema_to_public()
    return len(rows)
