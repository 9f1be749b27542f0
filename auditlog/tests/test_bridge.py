"""The ASGI entry point's one-hop bridge (auditlog.bridge), through the real ASGI application: requests with a
known body answer as a2wsgi answers them, in one message; chunked and oversized bodies still go to a2wsgi;
responses are always closed; a crash is the API's 500."""

import threading
import time
from dataclasses import dataclass

import orjson
import pytest
from a2wsgi import WSGIMiddleware
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_finished
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from auditlog.bridge import OneHopWSGI
from auditlog.disconnect import ClientGoneMiddleware
from conftest import event_body

# Headers that differ between two answers of the same request.
VARYING = {b"x-request-id", b"ratelimit-remaining", b"ratelimit-reset", b"retry-after"}


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    messages: list[dict]

    def stable_headers(self) -> list[tuple[bytes, bytes]]:
        return sorted((name, value) for name, value in self.headers if name not in VARYING)


def _scope(method: str, route: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "root_path": "",
        "method": method,
        "path": route,
        "query_string": query,
        "headers": [(b"host", b"localhost"), *headers],
        "server": ("localhost", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "asgi": {"version": "3.0"},
    }


async def call(app, method: str, route: str, *, body: bytes = b"", key: str | None = None, query: bytes = b"",
               headers=(), chunked: bool = False) -> Answer:  # fmt: skip
    headers = list(headers)
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if body and not chunked:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if chunked:
        headers += [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    comm = ApplicationCommunicator(app, _scope(method, route, query, headers))
    if chunked:
        half = len(body) // 2
        await comm.send_input({"type": "http.request", "body": body[:half], "more_body": True})
        await comm.send_input({"type": "http.request", "body": body[half:]})
    else:
        await comm.send_input({"type": "http.request", "body": body})
    messages = [await comm.receive_output(30)]
    while messages[-1]["type"] == "http.response.start" or messages[-1].get("more_body"):
        messages.append(await comm.receive_output(30))  # to the end (a streaming thread waits on us till then)
    await comm.wait(10)
    start = messages[0]
    return Answer(start["status"], start["headers"], b"".join(m.get("body", b"") for m in messages[1:]), messages)


def _application():
    from auditlog.asgi import application

    return application


def _a2wsgi():
    """The entry point as it was: every request through a2wsgi."""
    from auditlog.asgi import django_wsgi_app

    return ClientGoneMiddleware(WSGIMiddleware(django_wsgi_app, workers=2))


def one_hop(answer: Answer) -> bool:
    """Sent as the bridge sends a buffered response: the start and the whole body in one message. a2wsgi sends
    each chunk, then an empty last one."""
    return len(answer.messages) == 2 and not answer.messages[1].get("more_body")


async def both(*args, **kwargs) -> tuple[Answer, Answer]:
    return await call(_application(), *args, **kwargs), await call(_a2wsgi(), *args, **kwargs)


def assert_same(bridged: Answer, reference: Answer):
    assert bridged.status == reference.status
    assert bridged.stable_headers() == reference.stable_headers()
    assert bridged.body == reference.body


@pytest.mark.asyncio
async def test_api_requests_go_in_one_hop_and_answer_as_through_a2wsgi(committed_world, marker):
    acme = committed_world.acme
    event = orjson.dumps(event_body(source=marker))

    created, created_before = await both("POST", "/api/v1/logs", body=event, key=acme.keys["ingest"])
    assert created.status == created_before.status == 201
    assert one_hop(created) and not one_hop(created_before)
    assert [name for name, _ in created.stable_headers()] == [name for name, _ in created_before.stable_headers()]
    assert orjson.loads(created.body).keys() == orjson.loads(created_before.body).keys()

    invalid = orjson.dumps({"actor": {}, "action": "", "source": marker})
    refused, refused_before = await both("POST", "/api/v1/logs", body=invalid, key=acme.keys["ingest"])
    assert refused.status == 400 and orjson.loads(refused.body)["error"]["code"]
    assert one_hop(refused)
    assert_same(refused, refused_before)

    anonymous, anonymous_before = await both("POST", "/api/v1/logs", body=event)
    assert anonymous.status == 401 and one_hop(anonymous)
    assert_same(anonymous, anonymous_before)

    listed, listed_before = await both("GET", "/api/v1/logs", key=acme.keys["read"], query=f"source={marker}".encode())
    assert listed.status == 200 and len(orjson.loads(listed.body)["results"]) == 2
    assert one_hop(listed)
    assert_same(listed, listed_before)

    head, head_before = await both("HEAD", "/healthz")
    assert head.status == 200
    assert_same(head, head_before)


@pytest.mark.asyncio
async def test_a_streamed_export_answers_as_through_a2wsgi_and_is_closed(committed_world, marker):
    acme = committed_world.acme
    for _ in range(3):
        event = orjson.dumps(event_body(source=marker))
        await call(_application(), "POST", "/api/v1/logs", body=event, key=acme.keys["ingest"])
    finished = _count_request_finished()
    try:
        query = f"source={marker}".encode()
        export, export_before = await both("GET", "/api/v1/logs/export", key=acme.keys["export"], query=query)
    finally:
        request_finished.disconnect(finished)
    assert export.status == 200 and len(export.body.splitlines()) == 3
    assert not any(name == b"content-length" for name, _ in export.headers)  # streamed
    assert export.messages[-1] == {"type": "http.response.body", "body": b""}
    assert_same(export, export_before)
    assert finished.count == 2  # each path closed its response


@pytest.mark.asyncio
async def test_a_chunked_or_oversized_body_goes_through_a2wsgi(committed_world, marker, settings):
    key, invalid = committed_world.acme.keys["ingest"], orjson.dumps({"actor": {}, "source": marker})
    assert one_hop(await call(_application(), "POST", "/api/v1/logs", body=invalid, key=key))  # with its length
    chunked, chunked_before = await both("POST", "/api/v1/logs", body=invalid, key=key, chunked=True)
    assert chunked.status == 400  # Django reads no body without a Content-Length, as before
    assert not one_hop(chunked)
    assert_same(chunked, chunked_before)

    oversized = b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    refused = await call(_application(), "POST", "/api/v1/logs", body=oversized, key=key)
    assert refused.status == 413 and not one_hop(refused)


@pytest.mark.asyncio
async def test_every_response_is_closed(committed_world):
    finished = _count_request_finished()
    try:
        answer = await call(_application(), "POST", "/api/v1/logs", body=b"{}")
    finally:
        request_finished.disconnect(finished)
    assert answer.status == 401 and one_hop(answer)
    assert finished.count == 1  # Django's request_finished: its database connection went back to the pool


# Views of the probes below (settings.ROOT_URLCONF = this module).


def _two_cookies(request):
    response = HttpResponse(b"cookies")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return response


def _crash(request):
    raise RuntimeError("a bug in a view")


def _streamed_threads(request):
    view_thread = threading.get_ident()

    def chunks():
        for _ in range(20):
            time.sleep(0.001)
            yield b"same\n" if threading.get_ident() == view_thread else b"other\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


urlpatterns = [
    path("probe/cookies", _two_cookies),
    path("probe/crash", _crash),
    path("probe/streamed", _streamed_threads),
]
handler500 = "auditlog.errors.handler500"


@pytest.fixture
def probes(settings, django_db_setup, django_db_blocker):
    settings.ROOT_URLCONF = __name__
    with django_db_blocker.unblock():
        yield


@pytest.mark.asyncio
async def test_several_set_cookie_headers_are_kept(probes):
    answer, before = await both("GET", "/probe/cookies")
    assert answer.status == 200 and one_hop(answer)
    cookies = sorted(value.split(b";")[0] for name, value in answer.headers if name == b"set-cookie")
    assert cookies == [b"first=1", b"second=2"]
    assert_same(answer, before)


@pytest.mark.asyncio
async def test_an_exception_in_a_view_is_the_apis_500(probes):
    answer, before = await both("GET", "/probe/crash")
    assert answer.status == 500 and one_hop(answer)
    assert orjson.loads(answer.body) == {"error": {"code": "server_error", "message": "Internal server error."}}
    assert_same(answer, before)


@pytest.mark.asyncio
async def test_a_streamed_response_is_read_in_the_thread_its_view_ran_in(probes):
    """An export's transaction and cursor belong to the database connection of the thread its view ran in."""
    answer = await call(_application(), "GET", "/probe/streamed")
    assert answer.status == 200
    assert answer.body == b"same\n" * 20


@pytest.mark.asyncio
async def test_an_exception_out_of_the_wsgi_application_propagates_as_with_a2wsgi():
    """The server then answers 500 itself (uvicorn), as it did with a2wsgi alone."""

    def broken(environ, start_response):
        raise RuntimeError("broken")

    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    fallback = WSGIMiddleware(broken, workers=1)
    for app in (OneHopWSGI(broken, fallback, body_max=100), fallback):
        with pytest.raises(RuntimeError, match="broken"):
            await app(_scope("GET", "/", b"", []), receive, send)
    assert sent == []


def _count_request_finished():
    lock = threading.Lock()

    def receiver(**_kwargs):
        with lock:
            receiver.count += 1

    receiver.count = 0
    request_finished.connect(receiver, weak=False)
    return receiver
