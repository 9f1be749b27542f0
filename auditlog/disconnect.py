"""Tells a streamed HTTP response that its client went away.

HTTP runs through auditlog.bridge or a2wsgi, neither of which reads the ASGI `receive` channel once the request
body is read, and uvicorn drops what is sent after a disconnect without an error: a streamed response (an export)
would otherwise go on to its end for nobody. ClientGoneMiddleware puts a threading.Event in the scope
(`auditlog.client_gone`; Django sees it as request.META["asgi.scope"]), and once a response has started without a
Content-Length (streamed), watches `receive` for `http.disconnect` and sets the event. The stream checks it between
chunks (client_gone(request)).
"""

import asyncio
import threading

SCOPE_KEY = "auditlog.client_gone"


class ClientGoneMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        gone = threading.Event()
        scope[SCOPE_KEY] = gone
        watcher: asyncio.Task | None = None

        async def watch():
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async def send_watching(message):
            nonlocal watcher
            if (
                message["type"] == "http.response.start"
                and watcher is None
                and not any(name.lower() == b"content-length" for name, _value in message.get("headers", ()))
            ):
                watcher = asyncio.ensure_future(watch())
            await send(message)

        try:
            await self.app(scope, receive, send_watching)
        finally:
            if watcher is not None:
                watcher.cancel()


def client_gone(request) -> threading.Event | None:
    """The event set when the request's client disconnects (None outside the ASGI server, e.g. in tests)."""
    return request.META.get("asgi.scope", {}).get(SCOPE_KEY)
