"""WS /api/v1/logs/stream: who may connect (the GET /api/v1/logs row of tenants.access.MATRIX).

A refused connection is accepted and closed at once, before any data: 4401 without a valid
credential, 4403 with a valid one that may not read this tenant's events.
"""

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from search.routing import websocket_urlpatterns
from tenants.access import MATRIX, READ
from tenants.models import Role

from .stream_support import close_code, next_message, opened, tail


def hand_made_access(user, lifetime: timedelta) -> str:
    token = AccessToken()
    token["user_id"] = user.pk
    token["tenant"] = "acme"
    token["role"] = Role.USER
    token.set_exp(lifetime=lifetime)
    return str(token)


def test_every_websocket_route_has_its_rule_and_the_stream_that_of_reading_events():
    assert all(route.name in MATRIX for route in websocket_urlpatterns)
    assert MATRIX["log-stream"] == {"GET": READ} and MATRIX["log-list"]["GET"] is READ


REFUSED = {
    "no credential": (lambda w: {}, 4401),
    "garbage token": (lambda w: {"token": "garbage"}, 4401),
    "garbage bearer": (lambda w: {"header": "not.a.jwt"}, 4401),
    "unknown key": (lambda w: {"token": "alk_looks_like_a_key"}, 4401),
    "expired token": (lambda w: {"token": hand_made_access(w.acme.users[Role.USER], -timedelta(seconds=1))}, 4401),
    "refresh token": (lambda w: {"header": str(RefreshToken.for_user(w.acme.users[Role.USER]))}, 4401),
    "revoked key": (lambda w: {"token": w.acme.keys["revoked"]}, 4401),
    "basic auth": (lambda w: {"headers": [(b"authorization", b"Basic YWNtZS1hZG1pbjpwdw==")]}, 4401),
    "ingest key": (lambda w: {"token": w.acme.keys["ingest"]}, 4403),
    "export key": (lambda w: {"header": w.acme.keys["export"]}, 4403),
    "staff, not a member": (lambda w: {"token": w.staff_token}, 4403),
    "globex key on acme's host": (lambda w: {"token": w.globex.keys["read"], "host": "acme.localhost"}, 4403),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", REFUSED)
async def test_refused_connections_close_before_any_data(committed_world, case):
    credential, code = REFUSED[case]
    comm = await opened(tail({"severity": "INFO"}, **credential(committed_world)))
    assert await close_code(comm) == code
    await comm.disconnect()


ALLOWED = {
    "read key in the query": lambda w: {"token": w.acme.keys["read"]},
    "read key in the header": lambda w: {"header": w.acme.keys["read"]},
    "read key as X-API-Key": lambda w: {"headers": [(b"x-api-key", w.acme.keys["read"].encode())]},
    "User token in the header": lambda w: {"header": w.acme.tokens[Role.USER]},
    "Auditor token in the query": lambda w: {"token": w.acme.tokens[Role.AUDITOR]},
    "Admin token in the query": lambda w: {"token": w.acme.tokens[Role.ADMIN]},
    "header before query": lambda w: {"header": w.acme.keys["read"], "token": "garbage"},
    "acme key on acme's host": lambda w: {"token": w.acme.keys["read"], "host": "acme.localhost:8000"},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ALLOWED)
async def test_readers_are_served(committed_world, settings, case):
    settings.AUDITLOG = {**settings.AUDITLOG, "TAIL_HEARTBEAT_SECONDS": 0.05}
    comm = await opened(tail(**ALLOWED[case](committed_world)))
    assert await next_message(comm) == {"type": "heartbeat"}
    await comm.disconnect()
