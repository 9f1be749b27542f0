"""The export's lines, written by PostgreSQL (exports.lines), are byte for byte what the Python renderer writes
(search.audience.event_view, then exports.formats) for every format and audience, whatever the content holds:
escapes, unicode, quotes, formulas, nulls, numbers, addresses, timestamps, masked, encrypted, sealed events;
and the events PostgreSQL cannot write take the Python renderer, the others never do."""

import pytest
from django.db import connection, transaction
from django.http import QueryDict

from exports.formats import FORMATS, writer_for
from exports.lines import SLOW
from exports.selectors import export_line_pages, export_lines
from exports.streaming import export_chunks
from ingest.models import Event
from search.audience import FULL, RESTRICTED, event_view
from search.backends.postgres import filtered
from search.filters import parse_filters
from tenants.services import tenant_settings_update

TRICKY_TEXT = 'say "hi" \\ back\nnew\tline \x01\x1f é ☃ 😀 \u2028 </script>'


pytestmark = pytest.mark.usefixtures("fresh_caches")


def _bodies() -> list[dict]:
    at = "2026-11-03T10:{:02d}:00.{:06d}+00:00".format
    return [
        {  # text that needs every JSON escape, and CSV quotes
            "occurred_at": at(0, 0),
            "actor": {"id": "a,b", "name": TRICKY_TEXT, "email": "x@example.com"},
            "action": "UPDATE",
            "resource": {"type": "order", "name": "line\r\nbreak"},
            "message": TRICKY_TEXT,
            "context": {"user_agent": 'agent "quoted", with comma', "ip": "2001:db8::1"},
            "tags": ['a"b', "c,d", "é", "=f", "\\"],
        },
        {  # cells a spreadsheet reads as formulas, in every text column
            "occurred_at": at(1, 100000),
            "actor": {"id": "=1+1", "type": "service", "name": "+name", "session_id": "\tsession"},
            "action": "LOGIN",
            "resource": {"type": "-type", "id": "@id", "name": "\rname"},
            "message": '=HYPERLINK("http://x", "y")',
            "context": {"request_id": "-req", "correlation_id": "@corr", "ip": "::ffff:10.0.0.1"},
        },
        {  # numbers as the service writes them: PostgreSQL writes them back the same
            "occurred_at": at(2, 123456),
            "actor": {"id": "safe-numbers"},
            "action": "UPDATE",
            "resource": {"type": "order"},
            "metadata": {"n": [12.5, 1.0, -0.25, 0, -7, 9007199254740993, 0.0001, 0.30000000000000004, True, False]},
        },
        {  # numbers whose text in jsonb differs from the API's
            "occurred_at": at(2, 123457),
            "actor": {"id": "numbers"},
            "action": "UPDATE",
            "resource": {"type": "order"},
            "metadata": {"small": 1e-7, "large": 1e19, "negative_large": -(2**63)},
        },
        {  # nulls in metadata (compact jsonb writing would drop them), and texts that look like one
            "occurred_at": at(3, 0),
            "actor": {"id": "nulls"},
            "action": "READ",
            "resource": {"type": "order"},
            "metadata": {"gone": None, "list": [None, 1], "deep": {"x": None}},
        },
        {  # strings that look like what the tests of the jsonb text look for: the slower path, the same line
            "occurred_at": at(4, 0),
            "actor": {"id": "lookalikes"},
            "action": "READ",
            "resource": {"type": "order"},
            "metadata": {"text": "x, null, y", "version": " 1.50,"},
        },
        {  # strings that do not
            "occurred_at": at(4, 1),
            "actor": {"id": "strings"},
            "action": "READ",
            "resource": {"type": "order"},
            "metadata": {
                "enc": '"$enc"',
                "sep": ': [", "]',
                'k"ey\\': "v\\al\nue",
                "unicode": "é ☃ 😀",
                "empty": {},
                "none": [],
                "nullish": "nullable",
            },
        },
        {  # encrypted content: changes and a sensitive field, decrypted (or masked) in Python
            "occurred_at": at(5, 0),
            "actor": {"id": "encrypted"},
            "action": "UPDATE",
            "resource": {"type": "order"},
            "changes": {"before": {"plan": "free", "n": 1}, "after": {"plan": "pro", "n": 2}},
            "metadata": {"diagnosis": "hay fever", "plan": "gold"},
        },
        {  # masked at ingest
            "occurred_at": at(6, 0),
            "actor": {"id": "masked"},
            "action": "LOGIN",
            "resource": {"type": "session"},
            "metadata": {"password": "hunter2", "note": "card 4111 1111 1111 1111"},
        },
        {  # changes in clear (stored so by older versions): written by PostgreSQL
            "occurred_at": at(7, 0),
            "actor": {"id": "clear-changes"},
            "action": "UPDATE",
            "resource": {"type": "order"},
        },
        {  # the least an event has; then sealed below
            "occurred_at": at(8, 999999),
            "actor": {"id": "sealed"},
            "action": "DELETE",
            "resource": {"type": "order"},
            "message": "",
        },
    ]


@pytest.fixture
def tricky(world, api, marker):
    tenant = world.acme.tenant
    tenant_settings_update(tenant=tenant, changes={"sensitive_fields": ["metadata.diagnosis"]})
    bodies = [{**body, "source": marker} for body in _bodies()]
    response = api(world.acme.keys["ingest"]).post("/api/v1/logs/bulk", {"events": bodies}, format="json")
    assert response.status_code == 201, response.content[:500]
    connection.set_tenant(tenant)
    try:
        sealed = Event.objects.get(source=marker, actor_id="sealed")
        Event.objects.filter(id=sealed.id).update(sequence=41, hash="ab" * 32)
        clear = Event.objects.get(source=marker, actor_id="clear-changes")
        Event.objects.filter(id=clear.id).update(
            changes={"before": {"a": [1, "x, y"]}, "after": {"a": []}}, changed_fields=["a"]
        )
    finally:
        connection.set_schema_to_public()
    return tenant


def _filter(marker: str):
    f, _ = parse_filters(QueryDict(f"source={marker}"))
    return f


def _python_export(tenant, f, audience, fmt: str) -> bytes:
    """The export as the Python renderer writes it, from the events as the list reads them (ORM)."""
    writer = writer_for(fmt, tenant, audience)
    connection.set_tenant(tenant)
    try:
        events = list(filtered(f).order_by("-occurred_at", "-id"))
        lines = [writer.encode(event_view(event, audience)) for event in events]
    finally:
        connection.set_schema_to_public()
    separator = b"," if fmt == "json" else writer.line_end
    body = separator.join(lines) + (writer.line_end if lines else b"")
    return writer.head() + body + writer.tail()


def _streamed(tenant, f, audience, fmt: str) -> bytes:
    try:
        return b"".join(export_chunks(tenant, f, audience, fmt))
    finally:
        connection.set_schema_to_public()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("audience", [FULL, RESTRICTED], ids=["full", "restricted"])
def test_the_lines_are_byte_for_byte_the_python_renderers(tricky, marker, fmt, audience):
    f = _filter(marker)
    expected = _python_export(tricky, f, audience, fmt)
    assert _streamed(tricky, f, audience, fmt) == expected
    if audience is FULL:
        assert b"hay fever" in expected and b'"plan":"free"' in expected.replace(b'""', b'"')  # decrypted
    else:
        assert b"hay fever" not in expected and b"[ENCRYPTED]" in expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_job_pages_write_the_same_lines(tricky, marker, settings, fmt):
    """Keyset pages of 2 (pages end between events of one second, and inside the microseconds)."""
    f = _filter(marker)
    connection.set_tenant(tricky)
    try:
        with transaction.atomic():
            batches = export_lines(f, fmt, chunk_size=1000)
            streamed = [line for batch in batches for line in batch]
        paged = [line for page in export_line_pages(f, fmt, page_size=2) for line in page]
    finally:
        connection.set_schema_to_public()
    assert paged == streamed and len(paged) == 11


def test_only_the_events_postgresql_cannot_write_take_the_python_renderer(tricky, marker):
    f = _filter(marker)
    connection.set_tenant(tricky)
    try:
        with transaction.atomic():
            batches = export_lines(f, "ndjson", chunk_size=1000)
            lines = [line for batch in batches for line in batch]
            slow = {Event.objects.get(id=line[8:44].decode()).actor_id for line in lines if line[:1] == SLOW}
    finally:
        connection.set_schema_to_public()
    assert slow == {"numbers", "nulls", "lookalikes", "encrypted"}
