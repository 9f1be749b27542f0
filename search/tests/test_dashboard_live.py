"""The live tail page (dashboard): its filters, and the short-lived token its script opens the stream with."""

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import parse_qs

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from conftest import event_body
from search.cursor import cursor_decode
from tenants.models import Role

from .stream_support import close_code, next_events, opened, tail, written

LIVE = "/app/live"
TOKEN = "/app/live/token"


def client_of(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def stream_query(html: str) -> dict:
    return parse_qs(unescape(re.search(r'data-query="([^"]*)"', html).group(1)))


@pytest.mark.parametrize("role", [Role.USER, Role.AUDITOR, Role.ADMIN])
def test_every_member_watches_with_the_filters_of_the_stream(world, role):
    page = client_of(world.acme.users[role]).get(LIVE, {"action": "login", "severity": ["ERROR", "CRITICAL"], "q": ""})
    assert page.status_code == 200
    html = page.content.decode()
    assert stream_query(html) == {"action": ["LOGIN"], "severity": ["ERROR,CRITICAL"]}
    assert 'aria-live="polite"' in html and 'aria-pressed="false"' in html
    assert re.search(r'<script src="/static/dashboard/live\.js[^"]*" defer></script>', html)
    assert "<script>" not in html  # no inline script: the CSP allows none
    # The first connection replays from the page's own time, so nothing written before the socket opens is missed.
    since, _id = cursor_decode(re.search(r'data-since="([^"]+)"', html).group(1))
    assert abs((datetime.now(UTC) - since).total_seconds()) < 30


def test_bad_filters_are_form_errors_and_nothing_connects(world):
    page = client_of(world.acme.users[Role.USER]).get(LIVE, {"ip": "nowhere", "from": "ignored-here"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "is not an IP address or network" in html
    assert "data-query" not in html and "live.js" not in html


def test_the_token_needs_a_post_with_the_csrf_token(world):
    client = client_of(world.acme.users[Role.USER], csrf=True)
    assert client.get(TOKEN).status_code == 405
    assert client.post(TOKEN).status_code == 403
    page = client.get(LIVE).content.decode()
    csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
    response = client.post(TOKEN, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert Client().post(TOKEN).status_code == 302  # anonymous: to the sign-in page


@pytest.mark.parametrize("role", [Role.USER, Role.AUDITOR])
def test_the_token_is_short_lived_and_bound_to_the_person_and_tenant(world, role):
    user = world.acme.users[role]
    body = client_of(user).post(TOKEN, HTTP_HOST="acme.localhost:8000").json()
    assert body["url"] == "ws://acme.localhost:8000/api/v1/logs/stream"
    token = AccessToken(body["token"])
    assert (token["user_id"], token["tenant"], token["role"]) == (str(user.pk), "acme", role)
    lifetime = token["exp"] - datetime.now(UTC).timestamp()
    assert 0 < lifetime <= 60


@pytest.fixture
def tokens(committed_world):
    """Live-tail tokens from the page's endpoint: acme's User, and globex's User (signed in on globex)."""
    return {
        "acme": client_of(committed_world.acme.users[Role.USER]).post(TOKEN).json()["token"],
        "globex": client_of(committed_world.globex.users[Role.USER]).post(TOKEN).json()["token"],
    }


@pytest.mark.asyncio
async def test_the_token_opens_the_stream_of_its_tenant_as_its_person_sees_it(committed_world, tokens, marker):
    w = committed_world
    comm = await opened(tail({"source": marker, "batch": "true"}, token=tokens["acme"]))
    ids = await written(
        w.acme.keys["ingest"],
        [event_body(source=marker, changes={"before": {"plan": "free"}, "after": {"plan": "pro"}})],
    )
    (item,) = await next_events(comm, 1)
    assert item["event"]["id"] == ids[0]
    assert item["event"]["changes"] == {"before": "[ENCRYPTED]", "after": "[ENCRYPTED]"}  # a User's audience
    await comm.disconnect()
    # Another tenant's token on this tenant's host is refused before any data.
    refused = await opened(tail({"source": marker}, token=tokens["globex"], host="acme.localhost"))
    assert await close_code(refused) == 4403
    await refused.disconnect()
