"""The statistics page /app/stats: every role, the numbers of analytics.stats.log_stats under the same filters
and audience as the API, charts with their tables, links to the explorer, form errors for bad input, tenant
isolation, and the read recorded in the access trail."""

import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.http import QueryDict

from analytics.stats import interval_pick, log_stats
from ingest.models import Event
from ingest.relay import relay_drain
from ingest.services import ACCESS_TRAIL_SOURCE, events_record
from search.filters import parse_filters
from search.trail import trail_discard, trail_flush
from tenants.models import Role

URL = "/app/stats"


class Tables(HTMLParser):
    """The rows of every <table id=...> of a page: {id: [(first cell text, second cell text, href or None)]}."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[tuple[str, str, str | None]]] = {}
        self._table = self._cells = self._href = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self._cells, self._href = [], None
        elif self._cells is not None and tag in ("td", "th"):
            self._cells.append("")
        elif self._cells is not None and tag == "a":
            self._href = attrs.get("href")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "tr" and self._cells is not None:
            if len(self._cells) == 2 and self._cells[1].strip().isdigit():
                self.tables[self._table].append((self._cells[0].strip(), self._cells[1].strip(), self._href))
            self._cells = None

    def handle_data(self, data):
        if self._cells:
            self._cells[-1] += data


def counts(tables: Tables, name: str) -> dict[str, int]:
    return {label: int(n) for label, n, _href in tables.tables[f"stats-{name}"]}


def window() -> datetime:
    """A day of its own in the past (backfill), so events of other tests never fall in it."""
    rng = random.Random(uuid.uuid4().int)
    return datetime(rng.randint(1995, 2015), rng.randint(1, 12), rng.randint(1, 27), tzinfo=UTC)


def bodies(start: datetime, marker: str, n: int = 40) -> list[dict]:
    rng = random.Random(n)
    out = []
    for i in range(n):
        out.append(
            {
                "occurred_at": (start + timedelta(minutes=rng.randint(0, 20 * 60))).isoformat(),
                "actor": {"id": rng.choice(["alice", "bob", "cron"]), "type": "user"},
                "action": rng.choice(["LOGIN", "UPDATE", "DELETE"]),
                "resource": {"type": rng.choice(["order", "invoice"]), "id": f"r-{i}"},
                "severity": rng.choice(["INFO", "WARNING", "ERROR"]),
                "source": marker,
            }
        )
    return out


def store(tenant, events: list[dict]) -> None:
    """Write events, then run the relay as the worker would: the rollups count what it has relayed."""
    assert events_record(tenant, events) == len(events)
    connection.set_tenant(tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()


def signed_in(client, tw, role: str):
    client.force_login(tw.users[role])
    return client


def expected(tw, params: dict, *, access_trail: bool) -> dict:
    query = QueryDict(mutable=True)
    for name, value in params.items():
        query[name] = value
    f, extra = parse_filters(query, allowed_extra={"interval"})
    f.access_trail = access_trail
    connection.set_tenant(tw.tenant)
    try:
        return log_stats(f, interval=interval_pick(f, extra.get("interval")))
    finally:
        connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _no_trail_left():
    trail_discard()
    yield
    trail_discard()


def test_the_numbers_are_those_of_log_stats_for_the_same_filters(world, client, marker):
    start = window()
    store(world.acme.tenant, bodies(start, marker))
    params = {
        "from": start.isoformat(),
        "to": (start + timedelta(days=1)).isoformat(),
        "source": marker,
        "severity": "INFO,ERROR",
    }
    local = "%Y-%m-%dT%H:%M"  # as a datetime-local input sends it, read as UTC
    form = {
        "range": "custom",
        "from": start.strftime(local),
        "to": (start + timedelta(days=1)).strftime(local),
        "source": marker,
        "severity": ["INFO", "ERROR"],
    }
    page = signed_in(client, world.acme, Role.USER).get(URL, form)
    assert page.status_code == 200, page.content[:500]
    html = page.content.decode()
    want = expected(world.acme, params, access_trail=False)
    assert 0 < want["total"] < 40
    assert f'data-total="{want["total"]}"' in html
    tables = Tables(html)
    assert counts(tables, "action") == {r["value"]: r["count"] for r in want["by_action"]}
    assert counts(tables, "severity") == {r["value"]: r["count"] for r in want["by_severity"]}
    assert counts(tables, "resource_type") == {r["value"]: r["count"] for r in want["by_resource_type"]}
    assert counts(tables, "source") == {marker: want["total"]}
    assert counts(tables, "actors") == {f"{r['actor_id']} ({r['actor_type']})": r["count"] for r in want["top_actors"]}
    series = tables.tables["stats-series"]
    assert [int(n) for _label, n, _href in series] == [b["count"] for b in want["series"]]
    assert want["interval"] == "hour" and len(series) == 24
    # Charts: one inline SVG each, with a title and a description.
    assert html.count("<svg ") == 6 and html.count("<title id=") == 6 and html.count("<desc id=") == 6


def test_a_bar_links_to_the_explorer_under_the_same_filters(world, client, marker):
    start = window()
    store(world.acme.tenant, bodies(start, marker, 10))
    page = signed_in(client, world.acme, Role.USER).get(
        URL, {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(), "source": marker}
    )
    tables = Tables(page.content.decode())
    label, _n, href = tables.tables["stats-action"][0]
    link = urlsplit(href)
    assert link.path == "/app/logs"
    query = {name: values[0] for name, values in parse_qs(link.query).items()}
    assert query == {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(), "source": marker,
                     "action": label}  # fmt: skip
    assert f'<a href="{href.replace("&", "&amp;")}" tabindex="-1">' in page.content.decode()  # the bar itself
    _label, _n, actor_href = tables.tables["stats-actors"][0]
    assert {"actor_id", "actor_type", "source"} <= set(parse_qs(urlsplit(actor_href).query))


def test_users_do_not_count_the_access_trail_auditors_do(world, client, marker):
    start = window()
    store(world.acme.tenant, bodies(start, marker, 12))
    trail = bodies(start, "ignored", 5)
    for body in trail:
        body["source"] = ACCESS_TRAIL_SOURCE
    store(world.acme.tenant, trail)
    query = {"range": "custom", "from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()}
    user_page = signed_in(client, world.acme, Role.USER).get(URL, query)
    assert 'data-total="12"' in user_page.content.decode()
    assert ACCESS_TRAIL_SOURCE not in counts(Tables(user_page.content.decode()), "source")
    assert "not counted for your role" in user_page.content.decode()
    client.logout()
    auditor_page = signed_in(client, world.acme, Role.AUDITOR).get(URL, query)
    assert 'data-total="17"' in auditor_page.content.decode()
    assert counts(Tables(auditor_page.content.decode()), "source") == {marker: 12, ACCESS_TRAIL_SOURCE: 5}
    assert "not counted for your role" not in auditor_page.content.decode()


def test_another_tenants_events_are_never_counted(world, client, marker):
    start = window()
    store(world.globex.tenant, bodies(start, marker, 9))
    store(world.acme.tenant, bodies(start, marker, 3))
    query = {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(), "source": marker}
    page = signed_in(client, world.acme, Role.ADMIN).get(URL, query)
    assert page.status_code == 200 and 'data-total="3"' in page.content.decode()
    client.logout()
    page = signed_in(client, world.globex, Role.USER).get(URL, query)
    assert 'data-total="9"' in page.content.decode()


def test_presets_count_from_now(world, client, marker):
    now = datetime.now(UTC)
    recent = bodies(now - timedelta(hours=30), marker, 1)
    recent[0]["occurred_at"] = (now - timedelta(hours=2)).isoformat()
    older = bodies(now - timedelta(days=3), marker, 1)
    older[0]["occurred_at"] = (now - timedelta(days=3)).isoformat()
    store(world.acme.tenant, recent + older)
    user = signed_in(client, world.acme, Role.USER)
    day = user.get(URL, {"source": marker})  # no range: the last 24 hours
    assert day.status_code == 200 and 'data-total="1"' in day.content.decode()
    assert "by the hour" in day.content.decode()
    week = user.get(URL, {"range": "7d", "source": marker})
    assert 'data-total="2"' in week.content.decode()
    month = user.get(URL, {"range": "30d", "source": marker, "interval": "day"})
    assert 'data-total="2"' in month.content.decode() and "by the day" in month.content.decode()
    assert len(Tables(month.content.decode()).tables["stats-series"]) in (30, 31)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"range": "custom", "from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "from", "Must be before"),
        ({"range": "custom", "from": "yesterday"}, "from", ""),
        ({"range": "custom"}, "from", "needs a start"),
        ({"range": "30d", "interval": "minute"}, "interval", "At most 5000 buckets"),
        ({"interval": "week"}, "interval", "Select a valid choice"),
        ({"severity": "LOUD"}, "severity", "Select a valid choice"),
        ({"range": "forever"}, "range", "Select a valid choice"),
        ({"action": "A" * 300}, "action", "at most 256 characters"),
        ({"q": " "}, None, ""),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(world, client, query, field, message):
    page = signed_in(client, world.acme, Role.USER).get(URL, query)
    html = page.content.decode()
    if field is None:  # blank text is no filter
        assert page.status_code == 200
        return
    assert page.status_code == 400, html[:300]
    errors = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert errors, html
    assert message in errors.group(1)
    assert "<svg " not in html  # nothing counted under filters that mean nothing


def test_every_role_sees_it_anonymous_is_sent_to_sign_in(world, client):
    for role in (Role.USER, Role.AUDITOR, Role.ADMIN):
        client.logout()
        page = signed_in(client, world.acme, role).get(URL)
        assert page.status_code == 200
        assert 'aria-current="page">Stats' in page.content.decode()
        assert ('href="/app/exports"' in page.content.decode()) == (role != Role.USER)
    client.logout()
    page = client.get(URL)
    assert page.status_code == 302 and page["Location"].startswith("/app/login?next=")


def test_the_read_is_recorded_in_the_access_trail(world, client, marker):
    start = window()
    signed_in(client, world.acme, Role.AUDITOR).get(
        URL, {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(), "source": marker}
    )
    client.get(URL, {"range": "custom"})  # invalid: read nothing, recorded nothing
    assert trail_flush() == 1
    connection.set_tenant(world.acme.tenant)
    try:
        event = Event.objects.filter(source=ACCESS_TRAIL_SOURCE, action="STATS").order_by("-received_at").first()
    finally:
        connection.set_schema_to_public()
    assert event is not None and event.actor_id == f"user:{world.acme.users[Role.AUDITOR].pk}"
    assert event.metadata["route"] == "stats:stats" and event.metadata["filters"]["source"] == marker
