"""The log explorer and an event's detail (dashboard, session sign-in): filters with the API's meaning, audiences,
isolation, HTMX partials, bad input as form errors, escaping, and the access trail of their reads."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client

from conftest import event_body
from ingest.models import Event
from search.trail import trail_discard, trail_flush
from tenants.models import Role

LIST = "/app/logs"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def fresh_trail():
    trail_discard()
    yield
    trail_discard()


@pytest.fixture
def signed_in(world):
    """signed_in(role, tenant="acme") -> a test client with that member's session."""

    def make(role: str, tenant: str = "acme") -> Client:
        client = Client()
        client.force_login(getattr(world, tenant).users[role])
        return client

    return make


def post(api, world, bodies, tenant: str = "acme") -> list[str]:
    response = api(getattr(world, tenant).keys["ingest"]).post("/api/v1/logs/bulk", {"events": bodies}, format="json")
    assert response.status_code == 201, response.content
    return [str(i) for i in response.json()["ids"]]


def row_ids(html: str) -> list[str]:
    return re.findall(r'href="/app/logs/([0-9a-f-]{36})"', html)


def test_a_user_searches_with_the_apis_filters_and_full_text(world, api, signed_in, marker):
    ids = post(
        api,
        world,
        [
            event_body(source=marker, action="LOGIN", message="signed in from the harbour office"),
            event_body(source=marker, action="LOGIN", severity="ERROR", message="failed from the harbour"),
            event_body(source=marker, action="DELETE", message="removed the harbour order"),
        ],
    )
    client = signed_in(Role.USER)
    page = client.get(LIST, {"source": marker, "action": "login", "severity": ["ERROR"], "q": "harbour"})
    assert page.status_code == 200
    assert row_ids(page.content.decode()) == [ids[1]]
    page = client.get(LIST, {"source": marker, "action": "login,delete", "q": "harbour"})
    assert sorted(row_ids(page.content.decode())) == sorted(ids)
    html = client.get(LIST, {"source": marker, "q": "office"}).content.decode()
    assert row_ids(html) == [ids[0]] and "signed in from the harbour office" in html


def test_empty_fields_are_no_filters_and_metadata_lines_are_metadata_filters(world, api, signed_in, marker):
    ids = post(
        api,
        world,
        [event_body(source=marker, metadata={"plan": "pro", "region": {"code": "eu"}}), event_body(source=marker)],
    )
    client = signed_in(Role.USER)
    form = {"q": "", "range": "", "from": "", "to": "", "action": "", "source": marker, "ip": "", "tag": ""}
    assert sorted(row_ids(client.get(LIST, form).content.decode())) == sorted(ids)
    html = client.get(LIST, {**form, "metadata": "plan=pro\nregion.code = eu"}).content.decode()
    assert row_ids(html) == [ids[0]]
    # The API's own form of a metadata filter (a shared link) means the same, and shows in the box.
    html = client.get(LIST, {"source": marker, "metadata.plan": "pro"}).content.decode()
    assert row_ids(html) == [ids[0]] and "plan=pro</textarea>" in html


def test_time_presets_and_a_custom_range_in_utc(world, api, signed_in, marker):
    now = datetime.now(UTC)
    old, recent = post(
        api,
        world,
        [
            event_body(source=marker, occurred_at=(now - timedelta(hours=3)).isoformat()),
            event_body(source=marker, occurred_at=(now - timedelta(minutes=5)).isoformat()),
        ],
    )
    client = signed_in(Role.USER)
    assert row_ids(client.get(LIST, {"source": marker, "range": "15m"}).content.decode()) == [recent]
    assert row_ids(client.get(LIST, {"source": marker, "range": "1h"}).content.decode()) == [recent]
    assert row_ids(client.get(LIST, {"source": marker, "range": "24h"}).content.decode()) == [recent, old]
    window = {
        "source": marker,
        "range": "custom",
        "from": (now - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),  # a datetime-local value: UTC
        "to": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    page = client.get(LIST, window)
    assert row_ids(page.content.decode()) == [old]
    # The preset wins over stale custom fields.
    assert row_ids(client.get(LIST, {**window, "range": "15m"}).content.decode()) == [recent]


def test_bad_filters_are_form_errors_not_server_errors(world, signed_in):
    client = signed_in(Role.USER)
    cases = [
        ({"severity": "LOUD"}, "Select a valid choice"),
        ({"ip": "not-an-ip"}, "is not an IP address or network"),
        ({"from": "yesterday"}, "Not a valid ISO 8601 date-time."),
        ({"from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "Must be before"),
        ({"range": "5y"}, "Select a valid choice"),
        ({"metadata": "no equals sign"}, "write key=value"),
        ({"metadata": "bad key!=1"}, "Keys are letters"),
        ({"q": "x" * 300}, "1 to 256 characters."),
        ({"actor_type": "robot"}, "One or more of"),
        ({"nonsense": "1"}, "nonsense: Unknown parameter."),
        ({"cursor": "garbage"}, "out of date"),
    ]
    for params, message in cases:
        page = client.get(LIST, params)
        assert page.status_code == 400, params
        assert message in page.content.decode(), (params, page.content.decode()[:2000])
        partial = client.get(LIST, params, **HTMX)
        assert partial.status_code == 400 and message in partial.content.decode()
        assert "<html" not in partial.content.decode()
    # A Load more with a spoilt cursor shows the error in the explorer, not in the button's row.
    partial = client.get(LIST, {"cursor": "garbage"}, **HTMX)
    assert (partial["HX-Retarget"], partial["HX-Reswap"]) == ("#explorer", "outerHTML")


def test_load_more_pages_by_the_cursor_and_htmx_gets_the_rows_only(world, api, signed_in, marker):
    base = datetime.now(UTC) - timedelta(minutes=30)
    ids = post(
        api,
        world,
        [event_body(source=marker, occurred_at=(base + timedelta(seconds=i)).isoformat()) for i in range(55)],
    )
    newest_first = list(reversed(ids))
    client = signed_in(Role.USER)
    first = client.get(LIST, {"source": marker})
    html = first.content.decode()
    assert row_ids(html) == newest_first[:50]
    next_url = re.search(r'hx-get="([^"]+cursor=[^"]+)"', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(next_url).query)["source"] == [marker]
    rows = client.get(next_url, **HTMX)
    assert rows.status_code == 200
    body = rows.content.decode()
    assert body.lstrip().startswith("<tr") and "<html" not in body and "<form" not in body
    assert row_ids(body) == newest_first[50:] and "Load more" not in body
    # Without JavaScript the same link is a page of its own.
    assert row_ids(client.get(next_url).content.decode()) == newest_first[50:]
    # A preset's next page keeps the window of the first (the time it meant then), not a later one.
    html = client.get(LIST, {"source": marker, "range": "1h"}).content.decode()
    query = parse_qs(urlsplit(re.search(r'hx-get="([^"]+cursor=[^"]+)"', html).group(1).replace("&amp;", "&")).query)
    assert "range" not in query and datetime.fromisoformat(query["from"][0]) < datetime.now(UTC) - timedelta(minutes=59)


def test_an_htmx_search_swaps_the_explorer_and_pushes_the_canonical_url(world, api, signed_in, marker):
    (event_id,) = post(api, world, [event_body(source=marker, action="LOGIN")])
    client = signed_in(Role.USER)
    response = client.get(LIST, {"q": "", "source": marker, "action": "login", "severity": "", "range": "24h"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="explorer">') and "<html" not in body
    assert row_ids(body) == [event_id]
    pushed = response["HX-Push-Url"]
    assert pushed.startswith(LIST + "?") and "severity=" not in pushed and "q=" not in pushed
    assert parse_qs(urlsplit(pushed).query) == {"range": ["24h"], "action": ["LOGIN"], "source": [marker]}
    assert "HX-Request" in response["Vary"]
    # The pushed address is a page showing the same results (shared link, back button).
    again = client.get(pushed)
    assert again.status_code == 200 and row_ids(again.content.decode()) == [event_id]
    assert "<html" in again.content.decode()


def test_users_see_encrypted_content_and_no_access_trail_auditors_see_both(world, api, signed_in, marker):
    (event_id,) = post(
        api, world, [event_body(source=marker, changes={"before": {"plan": "free"}, "after": {"plan": "pro"}})]
    )
    for role in (Role.USER, Role.AUDITOR):
        signed_in(role).get(LIST, {"source": marker})
    trail_flush()
    user, auditor = signed_in(Role.USER), signed_in(Role.AUDITOR)
    # The access trail: Auditors may filter by source=auditlog, Users find nothing there.
    assert row_ids(user.get(LIST, {"source": "auditlog"}).content.decode()) == []
    assert len(row_ids(auditor.get(LIST, {"source": "auditlog"}).content.decode())) >= 2
    user_detail = user.get(f"{LIST}/{event_id}").content.decode()
    assert "[ENCRYPTED]" in user_detail and "free" not in user_detail
    auditor_detail = auditor.get(f"{LIST}/{event_id}").content.decode()
    assert "[ENCRYPTED]" not in auditor_detail and "free" in auditor_detail and "pro" in auditor_detail
    trail_event = auditor.get(LIST, {"source": "auditlog"}).content.decode()
    trail_id = row_ids(trail_event)[0]
    assert user.get(f"{LIST}/{trail_id}").status_code == 404
    assert auditor.get(f"{LIST}/{trail_id}").status_code == 200


def test_another_tenants_events_are_never_listed_nor_shown(world, api, signed_in, marker):
    (theirs,) = post(api, world, [event_body(source=marker)], tenant="globex")
    for role in (Role.USER, Role.ADMIN):
        client = signed_in(role)
        assert row_ids(client.get(LIST, {"source": marker}).content.decode()) == []
        assert row_ids(client.get(LIST).content.decode()).count(theirs) == 0
        assert client.get(f"{LIST}/{theirs}").status_code == 404
    assert signed_in(Role.USER, "globex").get(f"{LIST}/{theirs}").status_code == 200
    # A tenant's host refuses another tenant's member.
    assert signed_in(Role.ADMIN, "globex").get(f"{LIST}/{theirs}", HTTP_HOST="acme.localhost").status_code == 403


def test_event_fields_are_escaped(world, api, signed_in, marker):
    payload = '<script>alert("x")</script>'
    (event_id,) = post(
        api,
        world,
        [
            event_body(
                source=marker,
                message=payload,
                actor={"id": payload, "name": payload},
                resource={"type": "order", "id": payload},
                metadata={"note": payload},
                changes={"before": {"title": payload}, "after": {"title": "plain"}},
                tags=[payload],
            )
        ],
    )
    client = signed_in(Role.AUDITOR)
    for html in (
        client.get(LIST, {"source": marker}).content.decode(),
        client.get(LIST, {"source": marker}, **HTMX).content.decode(),
        client.get(f"{LIST}/{event_id}").content.decode(),
    ):
        assert payload not in html
        assert "&lt;script&gt;" in html


def test_the_detail_shows_a_diff_of_nested_changes_with_masked_values(world, api, signed_in, marker):
    (event_id,) = post(
        api,
        world,
        [
            event_body(
                source=marker,
                changes={
                    "before": {"name": "Ann", "address": {"city": "Oslo", "zip": "0150"}, "gone": 1},
                    "after": {
                        "name": "Ann",
                        "address": {"city": "Bergen", "zip": "0150"},
                        "new": True,
                        "password": "hunter2-secret",
                    },
                },
                context={"correlation_id": f"corr-{marker}"},
            ),
            event_body(source=marker, action="LOGIN", context={"correlation_id": f"corr-{marker}"}),
        ],
    )[:1]
    client = signed_in(Role.AUDITOR)
    html = client.get(f"{LIST}/{event_id}").content.decode()
    rows = {
        path: kind
        for kind, path in re.findall(r'<tr class="diff-(\w+)">\s*<th scope="row" class="mono">([^<]+)</th>', html)
    }
    assert rows == {
        "address.city": "changed",
        "address.zip": "unchanged",
        "gone": "removed",
        "name": "unchanged",
        "new": "added",
        "password": "added",
    }
    assert "hunter2-secret" not in html and "[MASKED:" in html
    assert re.search(r'class="diff-after masked">\[MASKED:[^<]*</code>', html)
    assert "changes.after.password" in html  # listed as masked at ingest
    # Related events: the LOGIN sharing its correlation id, linked.
    connection.set_tenant(world.acme.tenant)
    try:
        login = Event.objects.get(source=marker, action="LOGIN")
    finally:
        connection.set_schema_to_public()
    assert f'href="/app/logs/{login.id}"' in html
    assert "Integrity" not in html  # not sealed: no integrity fields yet


def test_the_detail_of_an_unknown_event_is_404(world, signed_in):
    client = signed_in(Role.USER)
    page = client.get(f"{LIST}/00000000-0000-0000-0000-000000000000")
    assert page.status_code == 404 and "No such event" in page.content.decode()  # a page of the dashboard
    assert client.get(f"{LIST}/not-a-uuid").status_code == 404


def test_a_users_explorer_visit_leaves_a_search_event_in_the_trail(world, api, signed_in, marker):
    post(api, world, [event_body(source=marker)])
    user = world.acme.users[Role.USER]
    signed_in(Role.USER).get(LIST, {"source": marker, "range": "24h"}, HTTP_USER_AGENT="Firefox/130")
    assert trail_flush() == 1
    connection.set_tenant(world.acme.tenant)
    try:
        (event,) = Event.objects.filter(source="auditlog", metadata__filters__source=marker)
    finally:
        connection.set_schema_to_public()
    assert (event.action, event.resource_type, event.actor_id, event.actor_name) == (
        "SEARCH",
        "log",
        f"user:{user.pk}",
        user.username,
    )
    assert event.user_agent == "Firefox/130"
    assert event.metadata["route"] == "logs:list" and event.metadata["results"] == 1
    assert set(event.metadata["filters"]) == {"source", "from"}  # the preset as the time it meant
    connection.set_tenant(world.globex.tenant)
    try:
        assert not Event.objects.filter(source="auditlog", metadata__filters__source=marker).exists()
    finally:
        connection.set_schema_to_public()


def test_every_page_of_results_and_a_detail_are_recorded_but_not_a_refused_read(world, api, signed_in, marker):
    base = datetime.now(UTC) - timedelta(minutes=30)
    ids = post(
        api,
        world,
        [event_body(source=marker, occurred_at=(base + timedelta(seconds=i)).isoformat()) for i in range(51)],
    )
    client = signed_in(Role.USER)
    html = client.get(LIST, {"source": marker}).content.decode()
    next_url = re.search(r'hx-get="([^"]+cursor=[^"]+)"', html).group(1).replace("&amp;", "&")
    client.get(next_url, **HTMX)
    client.get(f"{LIST}/{ids[0]}")
    client.get(LIST, {"severity": "LOUD"})  # invalid: read nothing
    client.get(f"{LIST}/00000000-0000-0000-0000-000000000000")  # 404: read nothing
    assert trail_flush() == 3
    connection.set_tenant(world.acme.tenant)
    try:
        trail = list(Event.objects.filter(source="auditlog").order_by("occurred_at", "id"))
    finally:
        connection.set_schema_to_public()
    assert [(e.action, e.metadata.get("next_page", False), e.resource_id) for e in trail] == [
        ("SEARCH", False, None),
        ("SEARCH", True, None),
        ("VIEW", False, ids[0]),
    ]
    assert trail[2].metadata == {"route": "logs:detail", "filters": {}}


def test_the_detail_shows_the_integrity_of_a_sealed_event(world, api, signed_in, marker):
    (event_id,) = post(api, world, [event_body(source=marker)])
    connection.set_tenant(world.acme.tenant)
    try:
        Event.objects.filter(id=event_id).update(sequence=42, hash="ab" * 32)  # as the sealer leaves it
    finally:
        connection.set_schema_to_public()
    html = signed_in(Role.USER).get(f"{LIST}/{event_id}").content.decode()
    assert "Integrity" in html and ">42<" in html and "ab" * 32 in html
