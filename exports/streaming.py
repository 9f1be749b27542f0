"""The streamed export (GET /api/v1/logs/export): export lines (exports.lines) -> byte chunks, from a
server-side cursor.

The stream runs after the view has returned, in the same thread (a2wsgi runs a response's iteration in the
thread of its view), so on the request's database connection: it sets the tenant's schema itself and reads
inside a transaction of its own (a server-side cursor without HOLD: rows flow as they are fetched). The view
primes it (PrimedStream) so that the query starts and the first rows are fetched before the status is
sent: an error up to there is an ordinary JSON error. When the stream ends, fails or is closed, the
transaction is rolled back and Django's end of request returns the connection to the pool. A client that
goes away is noticed between chunks (auditlog.disconnect): the stream stops there.

A failure after the first byte cannot change the status any more. The stream then ends with an error line
(NDJSON only: `{"error": {...}}`) and the server aborts the connection without the last chunk of the chunked
transfer, which every HTTP client reports as an incomplete response; a JSON export is then never closed
(`]`), so it does not parse either.
"""

import logging
import threading
from collections.abc import Iterator

from django.db import connection, transaction

from auditlog.conf import auditlog_setting
from auditlog.errors import SERVER_ERROR, error_body
from search.audience import Audience
from search.filters import EventFilter

from .formats import json_bytes, writer_for
from .selectors import export_lines

logger = logging.getLogger(__name__)


def export_chunks(tenant, f: EventFilter, audience: Audience, fmt: str) -> Iterator[bytes]:
    """The export as byte chunks, one per batch of lines fetched. Its first chunk comes once the first rows are
    fetched (or none match)."""
    writer = writer_for(fmt, tenant, audience)
    connection.set_tenant(tenant)
    with transaction.atomic():
        batches = export_lines(f, fmt, chunk_size=auditlog_setting("EXPORT_FETCH_ROWS"))
        try:
            head = writer.head()
            for lines in batches:
                chunk = writer.chunk(lines)
                if head:
                    chunk, head = head + chunk, b""
                yield chunk
            yield head + writer.tail()
        finally:
            # The cursor is closed while its transaction lives (also when the stream is closed early): closed
            # after the rollback, it would no longer exist.
            batches.close()


class PrimedStream:
    """An iterator over export_chunks whose first chunk is computed at once (so that errors before the first
    byte are raised in the view), with close() (Django calls it at the end of the response, also when the
    client went away), and the mid-stream failure handling described above."""

    def __init__(self, chunks: Iterator[bytes], fmt: str, client_gone: threading.Event | None = None):
        self._chunks = chunks
        self._fmt = fmt
        self._client_gone = client_gone
        self._first: bytes | None = next(chunks, b"")
        self._failed = False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._failed:
            raise RuntimeError("The export failed after its first byte; the connection is aborted.")
        if self._client_gone is not None and self._client_gone.is_set():
            self.close()  # nobody reads any more: stop reading the database now
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            raise
        except Exception:
            logger.exception("export stream failed after its first byte")
            self._failed = True
            self.close()
            if self._fmt == "ndjson":
                message = "The export failed before its end; what was sent is incomplete."
                return json_bytes(error_body(SERVER_ERROR, message)) + b"\n"
            raise

    def close(self) -> None:
        self._chunks.close()
