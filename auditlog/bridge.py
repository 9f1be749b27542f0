"""One hand-off per HTTP request between the event loop and Django's WSGI handler.

a2wsgi hands a request between the event loop and a worker thread four or five times (the call, each read of
the body, the start of the response, each chunk, the end), each a future, a condition variable and a GIL
hand-over. OneHopWSGI takes the requests whose body has a known size up to the upload cap (every API call but
large uploads): it reads the body on the loop, runs Django once in the pool, and sends the buffered response
from the loop. A streamed response (an export) is sent chunk by chunk from the thread its view ran in, as
a2wsgi does: the export's transaction and cursor belong to that thread's database connection, and each chunk
waits until the loop has sent it, so memory stays constant. Requests without a Content-Length (chunked) or
over the cap go to a2wsgi, which reads them lazily under the parsers' limits. The environ is a2wsgi's own
(build_environ), and both paths share one pool of settings.HTTP_THREADS threads.

Measured with this and the start-up heap frozen (auditlog/asgi.py) against a2wsgi alone, unfrozen:
`bench/run.py --ingest-only --duration 10 --bulk-events 40000 --rate 400 --port 8155` (4 uvicorn workers, the
old entry point through --app), alternated twice, 1-minute load average 5.6 to 9.3 (other work on the machine):

                                                      before                after
    single POST, closed loop (wrk, 64 connections)    386-490 events/s      520-544 events/s
    single POST, server CPU per event (closed loop)   2.24-2.57 ms          1.83-1.89 ms
    single POST, open loop at 400/s, CPU per event    2.23-2.52 ms          1.74 ms
    open loop, latency p50 / p99                      19-52 / 162-389 ms    8.5-13.5 / 211-239 ms
    bulk (1,000 per request, 4 clients)               8,281-8,444 events/s  8,614-9,150 events/s
    bulk, server CPU per event                        0.081-0.082 ms        0.066-0.069 ms

Two more runs of the new entry point in the following minutes: 1.83-1.92 ms per single event, open-loop p99
61-79 ms; the p99 follows the machine's other load more than the server.
"""

import asyncio
import contextvars
import io
from itertools import chain

from a2wsgi.wsgi import build_environ


class OneHopWSGI:
    """ASGI "http" for a WSGI application: bounded bodies in one hop, everything else through `fallback`, an
    a2wsgi WSGIMiddleware of the same application whose thread pool this shares."""

    def __init__(self, wsgi_app, fallback, body_max: int):
        self.app, self.fallback, self.body_max = wsgi_app, fallback, body_max
        self.executor = fallback.executor

    def _known_length(self, scope) -> int | None:
        """The body's size if it is known and within the cap (no Content-Length nor Transfer-Encoding: none)."""
        length = b"0"
        for name, value in scope.get("headers", ()):
            if name == b"transfer-encoding":
                return None
            if name == b"content-length":
                length = value
        if not length.isdigit() or int(length) > self.body_max:
            return None
        return int(length)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self._known_length(scope) is None:
            return await self.fallback(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # gone before its request was whole: nothing to run, nobody to answer
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        environ = build_environ(scope, io.BytesIO(b"".join(chunks)))
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # as a2wsgi runs the application
        buffered = await loop.run_in_executor(self.executor, context.run, self._run, environ, loop, send)
        if buffered is not None:
            start, body = buffered
            await send(start)
            await send({"type": "http.response.body", "body": body})

    def _run(self, environ, loop, send):
        """Runs the application in this thread: (start message, body) of a buffered response, or None once a
        streamed one has been sent from here. The response is always closed (Django's request_finished)."""
        started, written, exc_info = [], [], []

        def start_response(status, headers, info=None):
            if info is not None:
                exc_info.append(info)
            if not started:  # as a2wsgi: the first call's status and headers are the response's
                code = int(status.split(" ", 1)[0])
                encoded = [(k.strip().encode("latin1").lower(), v.strip().encode("latin1")) for k, v in headers]
                started.append({"type": "http.response.start", "status": code, "headers": encoded})
            return written.append

        result = self.app(environ, start_response)
        try:
            if not getattr(result, "streaming", True):  # Django's non-streamed HttpResponse
                body = b"".join(written) + b"".join(result)
                outcome = (started[0], body)
            else:
                outcome = None
                parts = iter(result)
                first = [] if started else [next(parts, b"")]  # a generator may start the response when first read
                self._send_from_thread(loop, send, started[0])
                for chunk in chain(written, first, parts):
                    self._send_from_thread(loop, send, {"type": "http.response.body", "body": chunk, "more_body": True})
                self._send_from_thread(loop, send, {"type": "http.response.body", "body": b""})
        finally:
            getattr(result, "close", lambda: None)()
        if exc_info:  # as a2wsgi: an error the application reported through start_response is raised
            raise exc_info[0][1].with_traceback(exc_info[0][2])
        return outcome

    @staticmethod
    def _send_from_thread(loop, send, message):
        asyncio.run_coroutine_threadsafe(send(message), loop).result()
