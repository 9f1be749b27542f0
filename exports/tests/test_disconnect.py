"""Through the real ASGI application (a2wsgi, Django, the database in the server's thread): a streamed export
stops reading the database when its client goes away, and gives its connection back."""

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.db import connection

from search.trail import trail_discard

from .support import load_events

ROWS = 20_000


def _scope(key: str, marker: str) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "root_path": "",
        "method": "GET",
        "path": "/api/v1/logs/export",
        "query_string": f"source={marker}".encode(),
        "headers": [(b"host", b"localhost"), (b"authorization", f"Bearer {key}".encode())],
        "server": ("localhost", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "asgi": {"version": "3.0"},
    }


async def _export(key: str, marker: str, *, leave_after_first_chunk: bool) -> tuple[int, int]:
    from auditlog.asgi import application

    comm = ApplicationCommunicator(application, _scope(key, marker))
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(10)
    assert start["status"] == 200
    received, chunks, message = 0, 0, {"more_body": True}
    while message.get("more_body"):  # to the end of the response (the server's thread waits on us till then)
        message = await comm.receive_output(30)
        received += len(message.get("body", b""))
        chunks += 1
        if leave_after_first_chunk and chunks == 1:
            await comm.send_input({"type": "http.disconnect"})
    await comm.wait(10)
    return received, chunks


def _export_cursors_open() -> int:
    """Export cursors of any session left waiting in their transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
            " AND query LIKE 'FETCH FORWARD %% FROM \"export_%%'"
        )
        return cursor.fetchone()[0]


@pytest.mark.asyncio
async def test_a_client_that_goes_away_stops_the_export(committed_world, marker):
    await database_sync_to_async(load_events)(committed_world.acme.tenant, marker, ROWS)
    key = committed_world.acme.keys["export"]
    try:
        whole, _ = await _export(key, marker, leave_after_first_chunk=False)
        cut, chunks = await _export(key, marker, leave_after_first_chunk=True)
        assert whole > 5_000_000  # 20,000 events in NDJSON
        assert cut < whole / 4, (cut, whole, chunks)  # stopped within a few chunks of the disconnect
        assert await database_sync_to_async(_export_cursors_open)() == 0  # its transaction and cursor are gone
    finally:
        trail_discard()
