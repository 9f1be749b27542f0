"""Helpers of the alert tests: a webhook receiver on loopback, rules, and running the relay."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from conftest import event_body
from ingest.relay import relay_drain
from tenants.models import Role


class Receiver:
    """An HTTP server on 127.0.0.1 recording each POST; answers the queued statuses, then 200."""

    def __init__(self, statuses=(), delay: float = 0.0):
        self.statuses = list(statuses)
        self.delay = delay
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": self.headers, "body": body, "path": self.path})
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, index: int = -1) -> dict:
        return json.loads(self.requests[index]["body"])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=(), delay: float = 0.0) -> Receiver:
        made.append(Receiver(statuses, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def alert_settings(settings):
    """Loopback webhooks allowed, quick retries; returns a setter for other AUDITLOG values."""
    settings.AUDITLOG = {
        **settings.AUDITLOG,
        "ALERT_WEBHOOK_ALLOW_PRIVATE": True,
        "ALERT_RETRY_BASE_SECONDS": 0.01,
        "ALERT_WEBHOOK_TIMEOUT_SECONDS": 2.0,
    }

    def change(**values):
        settings.AUDITLOG = {**settings.AUDITLOG, **values}

    return change


def admin(world, api, tw=None):
    return api((tw or world.acme).tokens[Role.ADMIN])


def rule_create(client, **fields) -> dict:
    body = {"name": "rule", **fields}
    response = client.post("/api/v1/alerts", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def ingest(world, api, tw=None, **fields) -> str:
    response = api((tw or world.acme).keys["ingest"]).post("/api/v1/logs", event_body(**fields), format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def relay(tenant, django_capture_on_commit_callbacks):
    """Drain the tenant's outbox as the relay task does; notifications queued on commit are sent (eager)."""
    connection.set_tenant(tenant)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            relay_drain()
    finally:
        connection.set_schema_to_public()


def history(client, rule_id, **params) -> list[dict]:
    response = client.get(f"/api/v1/alerts/{rule_id}/history", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]
