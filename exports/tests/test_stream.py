"""GET /api/v1/logs/export: formats, CSV columns and formula safety, the list's filters, who sees what,
tenant isolation, the access trail, constant memory, and an export of 100,000 events row by row."""

import csv
import io
import re
import time
import tracemalloc

import orjson
import pytest
from django.db import connection
from django.http import QueryDict

from conftest import event_body
from exports.formats import CSV_COLUMNS, csv_cells
from exports.streaming import PrimedStream, export_chunks
from ingest.models import Event
from search.audience import FULL
from search.filters import parse_filters
from search.trail import trail_discard, trail_flush
from tenants.models import Role

from .support import T0, as_json, body_of, list_all, load_events, ndjson_rows

URL = "/api/v1/logs/export"
FILENAME = re.compile(r'^attachment; filename="auditlog-acme-\d{8}T\d{6}Z\.(ndjson|json|csv)"$')


@pytest.fixture(autouse=True)
def fresh_trail():
    trail_discard()
    yield
    trail_discard()


@pytest.fixture
def events(world, api, marker):
    """Five acme events of the marker (one with changes, encrypted at rest) and a globex look-alike."""
    ingest = api(world.acme.keys["ingest"])
    bodies = [
        event_body(source=marker, occurred_at="2026-11-03T10:00:00+00:00", message='=HYPERLINK("http://x")'),
        event_body(
            source=marker,
            occurred_at="2026-11-03T10:01:00+00:00",
            actor={"id": "+alice", "type": "user", "name": "@Alice", "session_id": "s-1"},
            severity="WARNING",
            context={"ip": "10.1.2.3", "request_id": "req-1", "correlation_id": "-corr"},
            changes={"before": {"plan": "free"}, "after": {"plan": "pro"}},
            metadata={"region": "eu", "deep": {"a": [1, 2]}},
            tags=["billing", "eu"],
        ),
        event_body(source=marker, occurred_at="2026-11-03T10:02:00+00:00", severity="CRITICAL", action="DELETE"),
        event_body(
            source=marker,
            occurred_at="2026-11-03T10:03:00+00:00",
            metadata={"region": "us"},
            tags=["us"],
            context={"ip": "2001:db8::ffff:5"},
        ),
        event_body(source=marker, occurred_at="2026-11-03T10:04:00+00:00", message='plain, with "quotes"\nand a line'),
    ]
    for body in bodies:
        assert ingest.post("/api/v1/logs", body, format="json").status_code == 201
    api(world.globex.keys["ingest"]).post("/api/v1/logs", event_body(source=marker), format="json")
    return bodies


def test_ndjson_by_default_newest_first_as_the_list_shows_events(world, api, events, marker):
    client = api(world.acme.keys["export"])
    response = client.get(URL, {"source": marker})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert FILENAME.match(response["Content-Disposition"]) and response["Content-Disposition"].endswith('.ndjson"')
    rows = ndjson_rows(response)
    assert len(rows) == 5
    assert rows == as_json(list_all(api(world.acme.tokens[Role.AUDITOR]), {"source": marker}))
    assert [r["occurred_at"][11:16] for r in rows] == ["10:04", "10:03", "10:02", "10:01", "10:00"]


def test_json_is_one_array(world, api, events, marker):
    response = api(world.acme.keys["export"]).get(URL, {"source": marker, "format": "json"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].endswith('.json"')
    rows = orjson.loads(body_of(response))
    assert isinstance(rows, list) and len(rows) == 5
    assert rows == as_json(list_all(api(world.acme.tokens[Role.ADMIN]), {"source": marker}))
    empty = api(world.acme.keys["export"]).get(URL, {"source": "nothing-" + marker, "format": "json"})
    assert body_of(empty) == b"[]"
    assert body_of(api(world.acme.keys["export"]).get(URL, {"source": "nothing-" + marker})) == b""


def test_csv_columns_flattened_and_nested_fields_as_json_text(world, api, events, marker):
    response = api(world.acme.keys["export"]).get(URL, {"source": marker, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith('.csv"')
    text = body_of(response).decode()
    assert text.splitlines()[0] == ",".join(name for name, _ in CSV_COLUMNS)
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    listed = list_all(api(world.acme.tokens[Role.AUDITOR]), {"source": marker})
    assert [r["id"] for r in rows] == [e["id"] for e in listed]
    second = rows[3]  # newest first: the event with changes is the fourth
    assert second["actor.id"] == "'+alice" and second["actor.type"] == "user" and second["actor.name"] == "'@Alice"
    assert second["actor.session_id"] == "s-1" and second["actor.email"] == ""
    assert second["context.ip"] == "10.1.2.3" and second["context.correlation_id"] == "'-corr"
    assert orjson.loads(second["metadata"]) == {"region": "eu", "deep": {"a": [1, 2]}}
    assert orjson.loads(second["tags"]) == ["billing", "eu"]
    assert orjson.loads(second["changes"]) == {"before": {"plan": "free"}, "after": {"plan": "pro"}}  # decrypted
    assert orjson.loads(second["changed_fields"]) == ["plan"]
    assert second["occurred_at"] == listed[3]["occurred_at"] and second["severity"] == "WARNING"
    assert rows[4]["message"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["message"] == 'plain, with "quotes"\nand a line'  # quoted by the CSV rules, intact
    assert rows[0]["changes"] == "" and rows[0]["sequence"] == ""


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_cells_a_spreadsheet_would_read_as_formulas_get_a_quote(text):
    event = {"id": "x", "message": text, "actor": {"id": text}, "metadata": {"k": text}}
    cells = dict(zip([name for name, _ in CSV_COLUMNS], csv_cells(event), strict=True))
    assert cells["message"] == "'" + text and cells["actor.id"] == "'" + text
    assert cells["metadata"] == orjson.dumps({"k": text}).decode()  # JSON text starts with {: nothing to do
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(csv_cells(event))
    assert not re.search(r'(^|,)"?[=+\-@\t\r]', line.getvalue())


FILTERS = [
    {"severity": "WARNING,CRITICAL"},
    {"action": "delete"},
    {"tag": "eu"},
    {"metadata.region": "eu"},
    {"ip": "10.1.0.0/16"},
    {"q": "HYPERLINK"},
    {"from": "2026-11-03T10:01:00+00:00", "to": "2026-11-03T10:03:00+00:00"},
    {"actor_id": "+alice", "session_id": "s-1"},
    {"correlation_id": "-corr"},
]


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: ",".join(p))
def test_the_same_filters_as_the_list(world, api, events, marker, params):
    params = {"source": marker, **params}
    exported = ndjson_rows(api(world.acme.keys["export"]).get(URL, params))
    listed = list_all(api(world.acme.tokens[Role.AUDITOR]), params)
    assert exported == as_json(listed) and 0 < len(exported) < 5


@pytest.mark.parametrize(
    "params, field",
    [({"format": "xml"}, "format"), ({"limit": "5"}, "limit"), ({"severity": "LOUD"}, "severity"), ({"x": "1"}, "x")],
)
def test_bad_parameters_are_a_400_before_any_byte(world, api, params, field):
    response = api(world.acme.keys["export"]).get(URL, params)
    assert response.status_code == 400 and not response.streaming
    assert response.json()["error"]["code"] == "validation_error" and field in response.json()["error"]["details"]


@pytest.mark.parametrize("who", ["read key", "ingest key", "User"])
def test_users_and_other_keys_may_not_export(world, api, events, marker, who):
    credential = {
        "read key": world.acme.keys["read"],
        "ingest key": world.acme.keys["ingest"],
        "User": world.acme.tokens[Role.USER],
    }[who]
    response = api(credential).get(URL, {"source": marker})
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_export_key_and_auditor_see_decrypted_content_and_the_access_trail(world, api, events, marker):
    connection.set_tenant(world.acme.tenant)
    stored = Event.objects.get(source=marker, actor_id="+alice")
    connection.set_schema_to_public()
    assert "$enc" in orjson.dumps(stored.changes).decode()  # encrypted at rest
    for credential in (world.acme.keys["export"], world.acme.tokens[Role.AUDITOR]):
        rows = ndjson_rows(api(credential).get(URL, {"source": marker, "actor_id": "+alice"}))
        assert rows[0]["changes"] == {"before": {"plan": "free"}, "after": {"plan": "pro"}}
    api(world.acme.tokens[Role.AUDITOR]).get("/api/v1/logs", {"source": marker})
    trail_flush()
    trail = ndjson_rows(api(world.acme.keys["export"]).get(URL, {"source": "auditlog", "q": marker}))
    assert any(r["action"] == "SEARCH" for r in trail)


def test_another_tenants_events_are_never_exported(world, api, events, marker):
    rows = ndjson_rows(api(world.globex.keys["export"]).get(URL, {"source": marker}))
    assert len(rows) == 1  # globex's own look-alike only
    acme_ids = {e["id"] for e in list_all(api(world.acme.tokens[Role.ADMIN]), {"source": marker})}
    assert rows[0]["id"] not in acme_ids
    assert ndjson_rows(api(world.globex.tokens[Role.ADMIN]).get(URL, {"source": marker}))[0]["id"] == rows[0]["id"]


def test_the_export_is_recorded_in_the_access_trail(world, api, events, marker):
    body_of(api(world.acme.keys["export"]).get(URL, {"source": marker, "severity": "warning", "format": "csv"}))
    trail_flush()
    connection.set_tenant(world.acme.tenant)
    try:
        recorded = list(Event.objects.filter(source="auditlog", action="EXPORT", metadata__filters__source=marker))
    finally:
        connection.set_schema_to_public()
    assert len(recorded) == 1
    event = recorded[0]
    assert event.actor_id.startswith("apikey:") and event.actor_name == "export key"
    assert event.metadata["route"] == "log-export"
    assert event.metadata["filters"] == {"source": marker, "severity": "WARNING"}  # `format` is not a filter


def test_a_refused_export_is_not_recorded(world, api, events, marker):
    api(world.acme.keys["read"]).get(URL, {"source": marker})
    assert trail_flush() == 0


def _peak_while_exporting(client, params) -> tuple[int, int]:
    response = client.get(URL, params)
    tracemalloc.start()
    try:
        total = 0
        for chunk in response.streaming_content:
            total += len(chunk)
        return tracemalloc.get_traced_memory()[1], total
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_however_many_rows(world, api, marker, settings):
    """The response is a stream over a server-side cursor: the Python memory it takes while it runs does
    not grow with the number of rows (no list of the results is ever built)."""
    settings.AUDITLOG = {**settings.AUDITLOG, "EXPORT_FETCH_ROWS": 500}
    load_events(world.acme.tenant, marker, 20_000)
    client = api(world.acme.keys["export"])
    small_peak, small_bytes = _peak_while_exporting(client, {"source": marker, "to": "2026-11-02T08:41:40+00:00"})
    large_peak, large_bytes = _peak_while_exporting(client, {"source": marker})
    assert large_bytes > 7 * small_bytes  # 20,000 rows against 2,500
    assert large_peak < 1.5 * small_peak + 256 * 1024, (small_peak, large_peak)
    assert large_peak < large_bytes / 4, (large_peak, large_bytes)


def test_a_failure_after_the_first_byte_ends_the_stream_as_documented():
    def chunks():
        yield b'{"id": 1}\n'
        raise ValueError("the database went away")

    stream = PrimedStream(chunks(), "ndjson")
    assert next(stream) == b'{"id": 1}\n'
    last = orjson.loads(next(stream))
    assert last["error"]["code"] == "server_error"
    with pytest.raises(RuntimeError):  # the server aborts the connection: no terminating chunk
        next(stream)
    csv_stream = PrimedStream(chunks(), "csv")
    next(csv_stream)
    with pytest.raises(ValueError):
        next(csv_stream)


def test_the_stream_gives_its_cursor_and_transaction_back_when_closed_early(world, marker, settings):
    """Django closes a streamed response when it ends or the client goes away (a2wsgi: in the view's thread),
    which closes the stream: its cursor and transaction end there, then Django's end of request returns the
    connection to the pool."""
    settings.AUDITLOG = {**settings.AUDITLOG, "EXPORT_FETCH_ROWS": 100}
    load_events(world.acme.tenant, marker, 1000)
    f, _ = parse_filters(QueryDict(f"source={marker}"))
    depth = len(connection.savepoint_ids)
    stream = PrimedStream(export_chunks(world.acme.tenant, f, FULL, "ndjson"), "ndjson")
    assert connection.schema_name == world.acme.tenant.schema_name
    assert next(stream).count(b"\n") >= 100
    assert len(connection.savepoint_ids) == depth + 1  # the stream's own transaction
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        assert cursor.fetchone()[0] == 1  # the server-side cursor, open while it streams
    stream.close()
    assert len(connection.savepoint_ids) == depth
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        assert cursor.fetchone()[0] == 0
    connection.set_schema_to_public()


def test_100k_events_exported_row_by_row_as_the_list_shows_them(world, api, marker):
    started = time.monotonic()
    load_events(world.acme.tenant, marker, 100_000)
    loaded = time.monotonic()
    response = api(world.acme.keys["export"]).get(URL, {"source": marker})
    exported = [orjson.loads(line) for line in body_of(response).splitlines()]
    streamed = time.monotonic()
    listed = as_json(list_all(api(world.acme.tokens[Role.AUDITOR]), {"source": marker}))
    assert len(exported) == len(listed) == 100_000
    for index, (row, expected) in enumerate(zip(exported, listed, strict=True)):
        assert row == expected, index
    assert exported[0]["occurred_at"] > exported[-1]["occurred_at"]
    assert len({row["id"] for row in exported}) == 100_000
    print(f"load {loaded - started:.1f} s, export {streamed - loaded:.1f} s, list {time.monotonic() - streamed:.1f} s")
    assert T0.isoformat()[:10] in exported[-1]["occurred_at"]
