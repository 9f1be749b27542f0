"""GET /api/v1/logs/stats: counts equal to a naive count, rollups and the event table agree, isolation, roles."""

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import QueryDict

from analytics.models import (
    ActorMonthRollup,
    ActorRollup,
    ActorValueMonthRollup,
    ActorValueRollup,
    CubeRollup,
    ValueRollup,
)
from analytics.rollups import day_floor, rollups_rebuild, rollups_relay_handler
from analytics.stats import _month_pieces, interval_pick, log_stats, stats_plan
from ingest.models import Event
from ingest.relay import relay_drain
from ingest.services import ACCESS_TRAIL_SOURCE, events_record
from search.filters import parse_filters
from tenants.models import Role

ACTIONS = ["CREATE", "UPDATE", "DELETE", "LOGIN"]
SEVERITIES = ["INFO", "WARNING", "ERROR", "CRITICAL"]
RTYPES = ["order", "user", "invoice"]
SOURCES = ["billing", "web", None]
ACTORS = [("alice", "user"), ("bob", "user"), ("cron", "system"), ("svc-a", "service"), ("carol", "user")]
TAGS = ["red", "green", "blue"]
IPS = ["10.0.0.1", "10.0.0.2", "192.168.1.9"]


def window_start() -> datetime:
    """An hour of its own in the past (backfill), so rows of other tests never fall in it."""
    rng = random.Random(uuid.uuid4().int)
    return datetime(rng.randint(1995, 2015), rng.randint(1, 12), rng.randint(1, 27), rng.randint(0, 12), tzinfo=UTC)


def random_bodies(start: datetime, count: int, seed: int, *, hours: int = 30, sources=SOURCES) -> list[dict]:
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        actor_id, actor_type = rng.choice(ACTORS)
        occurred = start + timedelta(seconds=rng.randint(0, hours * 3600 - 1), microseconds=rng.randint(0, 999_999))
        body = {
            "occurred_at": occurred.isoformat(),
            "actor": {"id": actor_id, "type": actor_type},
            "action": rng.choice(ACTIONS),
            "resource": {"type": rng.choice(RTYPES), "id": f"r-{rng.randint(1, 5)}"},
            "severity": rng.choice(SEVERITIES),
            "message": rng.choice(["payment captured", "login failed", "nightly report"]),
            "context": {"ip": rng.choice(IPS)},
            "metadata": {"region": rng.choice(["eu", "us"])},
            "tags": [rng.choice(TAGS)],
        }
        source = rng.choice(sources)
        if source:
            body["source"] = source
        bodies.append(body)
    return bodies


def store(tw, bodies: list[dict]) -> None:
    assert events_record(tw.tenant, bodies) == len(bodies)


def relay(tw) -> None:
    connection.set_tenant(tw.tenant)
    try:
        relay_drain()
    finally:
        connection.set_schema_to_public()


def _naive_match(body: dict, params: dict, access_trail: bool = True) -> bool:
    at = datetime.fromisoformat(body["occurred_at"])
    if not access_trail and body.get("source") == ACCESS_TRAIL_SOURCE:
        return False
    row = {
        "actor_id": body["actor"]["id"],
        "actor_type": body["actor"]["type"],
        "action": body["action"],
        "resource_type": body["resource"]["type"],
        "severity": body["severity"],
        "source": body.get("source"),
    }
    for name, value in params.items():
        if name == "from" and at < datetime.fromisoformat(value):
            return False
        if name == "to" and at >= datetime.fromisoformat(value):
            return False
        if name in row and row[name] not in value.split(","):
            return False
        if name == "tag" and not set(body["tags"]) & set(value.split(",")):
            return False
        if name == "ip" and body["context"]["ip"] != value:
            return False
        if name == "q" and value not in body["message"].split():
            return False
        if name == "metadata.region" and body["metadata"]["region"] != value:
            return False
    return True


def naive_stats(bodies: list[dict], params: dict, interval: str, access_trail: bool = True) -> dict:
    matched = [b for b in bodies if _naive_match(b, params, access_trail)]
    step = {"minute": 60, "hour": 3600, "day": 86400}[interval]

    def bucket(b):
        seconds = int(datetime.fromisoformat(b["occurred_at"]).timestamp())
        return datetime.fromtimestamp(seconds - seconds % step, UTC)

    return {
        "total": len(matched),
        "action": Counter(b["action"] for b in matched),
        "severity": Counter(b["severity"] for b in matched),
        "resource_type": Counter(b["resource"]["type"] for b in matched),
        "source": Counter(b.get("source") for b in matched),
        "actors": Counter((b["actor"]["id"], b["actor"]["type"]) for b in matched),
        "series": Counter(bucket(b) for b in matched),
    }


def as_counters(body: dict) -> dict:
    return {
        "total": body["total"],
        "action": Counter({r["value"]: r["count"] for r in body["by_action"]}),
        "severity": Counter({r["value"]: r["count"] for r in body["by_severity"]}),
        "resource_type": Counter({r["value"]: r["count"] for r in body["by_resource_type"]}),
        "source": Counter({r["value"]: r["count"] for r in body["by_source"]}),
        "actors": Counter({(r["actor_id"], r["actor_type"]): r["count"] for r in body["top_actors"]}),
        "series": Counter(
            {
                datetime.fromisoformat(str(r["start"]).replace("Z", "+00:00")): r["count"]
                for r in body["series"]
                if r["count"]
            }
        ),
    }


def selector_stats(tw, params: dict, *, use_rollups: bool, access_trail: bool = True) -> tuple[dict, object]:
    f, extra = parse_filters(_qd(params), allowed_extra={"interval"})
    f.access_trail = access_trail
    interval = interval_pick(f, extra.get("interval"))
    connection.set_tenant(tw.tenant)
    try:
        return log_stats(f, interval=interval, use_rollups=use_rollups), stats_plan(
            f, interval, use_rollups=use_rollups
        )
    finally:
        connection.set_schema_to_public()


def _qd(params: dict) -> QueryDict:
    qd = QueryDict(mutable=True)
    for k, v in params.items():
        qd[k] = v
    return qd


def iso(t: datetime) -> str:
    return t.isoformat()


def test_stats_equal_a_naive_count_by_both_paths_under_many_filters(world, api):
    start = window_start()
    bodies = random_bodies(start, 300, seed=7)
    store(world.acme, bodies)
    relay(world.acme)
    end = start + timedelta(hours=30)
    day = day_floor(start)
    # (params, (series, by_*, top actors) counted from; None: depends on whether a whole day lies inside).
    cases = [
        ({"from": iso(start), "to": iso(end), "interval": "hour"}, ("values", "values", None)),
        ({"from": iso(start), "to": iso(end), "interval": "day"}, ("values", "values", None)),
        ({"from": iso(day), "to": iso(day + timedelta(days=3))}, ("values", "values", "actors")),
        ({"from": iso(start), "to": iso(start + timedelta(hours=15))}, ("values", "values", None)),
        # Partial hours and days at the ends: the rollups inside, the event table at the ends.
        (
            {"from": iso(start + timedelta(minutes=17)), "to": iso(start + timedelta(hours=27, minutes=41))},
            ("values", "values", None),
        ),
        (
            {
                "from": iso(day + timedelta(hours=3, minutes=5)),
                "to": iso(day + timedelta(days=2, hours=7)),
                "interval": "day",
            },
            ("values", "values", "actors"),
        ),
        # Whole months inside (the monthly actor counts), whole days beside them, partial days at the ends.
        (
            {"from": iso(day - timedelta(days=45, hours=5)), "to": iso(day + timedelta(days=40, minutes=3))},
            ("values", "values", "actors"),
        ),
        ({"from": iso(day - timedelta(days=62)), "to": iso(day + timedelta(days=62))}, ("values", "values", "actors")),
        (
            {"from": iso(day - timedelta(minutes=1)), "to": iso(day + timedelta(days=1, seconds=1))},
            ("values", "values", "actors"),
        ),
        (
            {"from": iso(start + timedelta(minutes=5)), "to": iso(start + timedelta(minutes=55)), "interval": "hour"},
            ("facts", "facts", "facts"),
        ),
        ({"from": iso(start), "to": iso(end), "action": "CREATE,DELETE"}, ("values", None, None)),
        (
            {"from": iso(start), "to": iso(end), "severity": "ERROR", "resource_type": "order"},
            ("facts", None, "facts"),
        ),
        ({"from": iso(start), "to": iso(end), "source": "billing,web", "action": "LOGIN"}, ("facts", None, "facts")),
        ({"from": iso(start), "to": iso(end), "actor_id": "alice,cron", "interval": "hour"}, ("events",) * 3),
        ({"from": iso(start), "to": iso(end), "actor_type": "user"}, (None,) * 3),
        ({"from": iso(start), "to": iso(end), "actor_type": "service,system", "severity": "INFO"}, (None,) * 3),
        (
            {"from": iso(start + timedelta(minutes=17)), "to": iso(start + timedelta(hours=2, minutes=5))},
            ("facts",) * 3,
        ),
        ({"from": iso(start), "to": iso(end), "tag": "red", "interval": "hour"}, ("events",) * 3),
        ({"from": iso(start), "to": iso(end), "q": "failed"}, ("events",) * 3),
        ({"from": iso(start), "to": iso(end), "ip": "10.0.0.2", "severity": "INFO,WARNING"}, ("events",) * 3),
        ({"from": iso(start), "to": iso(end), "metadata.region": "eu", "interval": "day"}, ("events",) * 3),
        ({"from": iso(start), "to": iso(end), "action": "UPDATE", "actor_id": "bob"}, ("events",) * 3),
        ({"from": iso(start), "to": iso(start + timedelta(hours=4)), "interval": "minute"}, ("facts",) * 3),
    ]
    client = api(world.acme.tokens[Role.AUDITOR])
    for params, counted_from in cases:
        response = client.get("/api/v1/logs/stats", params)
        assert response.status_code == 200, (params, response.content)
        body = response.json()
        expected = naive_stats(bodies, params, body["interval"])
        assert as_counters(body) == expected, params
        via_rollups, plan = selector_stats(world.acme, params, use_rollups=True)
        for where, expected_where in zip((plan.series, plan.dimensions, plan.actors), counted_from, strict=True):
            assert expected_where is None or where == expected_where, (params, plan)
        via_events, events_plan = selector_stats(world.acme, params, use_rollups=False)
        assert events_plan.series == events_plan.dimensions == events_plan.actors == "events"
        assert as_counters(via_rollups) == as_counters(via_events) == expected, params
    assert sum(expected["series"].values()) >= 1  # the data set matched something


def test_dimension_filters_are_counted_from_the_cube_equal_to_a_naive_count(world, api):
    start = window_start()
    bodies = random_bodies(start, 500, seed=21, hours=80, sources=[*SOURCES, ACCESS_TRAIL_SOURCE])
    store(world.acme, bodies)
    relay(world.acme)
    day = day_floor(start)  # the events: from `start` (day + 0 to 12 h) for 80 hours
    ranges = [
        {"from": iso(day), "to": iso(day + timedelta(days=4))},  # whole days only
        # Partial days at both ends (events in both), two whole days between.
        {"from": iso(day + timedelta(hours=13, minutes=17)), "to": iso(day + timedelta(days=3, hours=2, minutes=41))},
        {"from": iso(day - timedelta(days=40, minutes=1)), "to": iso(day + timedelta(days=3, hours=5))},
        # The events' month whole inside (the monthly counts per actor and value), partial days at the ends.
        {"from": iso(day - timedelta(days=62, hours=3)), "to": iso(day + timedelta(days=62, minutes=7))},
    ]
    filters = [
        # One dimension: its series from the hourly counts of its values (by the day or the hour).
        ({"action": "DELETE", "interval": "day"}, "values"),
        ({"action": "DELETE", "interval": "hour"}, "values"),
        ({"action": "CREATE,DELETE", "interval": "day"}, "values"),
        ({"source": "web", "interval": "hour"}, "values"),
        ({"severity": "ERROR", "resource_type": "order", "interval": "day"}, "cube"),
        ({"source": "billing,web", "action": "LOGIN", "interval": "hour"}, "facts"),  # a cube by the day only
        ({"severity": "INFO,WARNING", "resource_type": "order,user", "source": "web", "interval": "day"}, "cube"),
        (
            {
                "action": "UPDATE,LOGIN",
                "severity": "INFO",
                "resource_type": "user",
                "source": "billing",
                "interval": "day",
            },
            "cube",
        ),
        ({"source": ACCESS_TRAIL_SOURCE, "action": "CREATE,UPDATE,DELETE,LOGIN", "interval": "day"}, "cube"),
        ({"resource_type": "invoice", "severity": "CRITICAL,ERROR", "interval": "day"}, "cube"),
    ]
    matched = 0
    for time_range in ranges:
        for extra, series_from in filters:
            params = {**time_range, **extra}
            for access_trail in (True, False):
                via_rollups, plan = selector_stats(world.acme, params, use_rollups=True, access_trail=access_trail)
                one_dimension = len(set(extra) - {"interval"}) == 1
                actors_from = "actor_values" if one_dimension else "facts"
                assert (plan.series, plan.dimensions, plan.actors) == (series_from, "cube", actors_from), params
                via_events, _ = selector_stats(world.acme, params, use_rollups=False, access_trail=access_trail)
                expected = naive_stats(bodies, params, via_rollups["interval"], access_trail)
                assert as_counters(via_rollups) == as_counters(via_events) == expected, (params, access_trail)
                matched += expected["total"]
    assert matched > 1000
    # Over HTTP, a User does not count the access trail; an Auditor does.
    params = {**ranges[1], "source": f"web,{ACCESS_TRAIL_SOURCE}", "interval": "day"}
    for who, access_trail in ((world.acme.tokens[Role.USER], False), (world.acme.tokens[Role.AUDITOR], True)):
        body = api(who).get("/api/v1/logs/stats", params).json()
        assert as_counters(body) == naive_stats(bodies, params, "day", access_trail)


def test_actor_type_questions_take_the_other_types_away_when_they_have_fewer_actors(world, api):
    start = window_start()
    day = day_floor(start)
    bodies = random_bodies(start, 400, seed=5, hours=60, sources=[*SOURCES, ACCESS_TRAIL_SOURCE])
    for index, body in enumerate(bodies[:40]):  # more users than services and systems, whatever else is stored
        body["actor"] = {"id": f"user-{index % 5}", "type": "user"}  # 10 actors in all: the top 10
    store(world.acme, bodies)
    relay(world.acme)
    connection.set_tenant(world.acme.tenant)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT actor_type, count(*) FROM analytics_stats_actor GROUP BY 1")
            actors = dict(cursor.fetchall())
    finally:
        connection.set_schema_to_public()
    ranges = [
        {"from": iso(day), "to": iso(day + timedelta(days=3))},
        {"from": iso(day + timedelta(hours=2, minutes=7)), "to": iso(day + timedelta(days=2, hours=20, minutes=3))},
        {"from": iso(start + timedelta(minutes=13)), "to": iso(start + timedelta(hours=9, minutes=2))},
    ]
    extras = [
        {},
        {"interval": "hour"},
        {"severity": "INFO,ERROR", "interval": "day"},
        {"action": "LOGIN", "interval": "hour"},
        {"action": "UPDATE", "resource_type": "order,user", "interval": "day"},
    ]
    taken_away = 0
    for types in ("user", "service", "system,service", "user,system", "user,service,system"):
        others = sum(n for t, n in actors.items() if t not in types.split(","))
        chosen = sum(n for t, n in actors.items() if t in types.split(","))
        for time_range in ranges:
            for extra in extras:
                params = {**time_range, **extra, "actor_type": types}
                for access_trail in (True, False):
                    via_rollups, plan = selector_stats(world.acme, params, use_rollups=True, access_trail=access_trail)
                    if others >= chosen:
                        assert plan.sources() == {"facts"} and not plan.less, (params, plan)
                    taken_away += plan.less == "facts"
                    expected = naive_stats(bodies, params, via_rollups["interval"], access_trail)
                    via_events, _ = selector_stats(world.acme, params, use_rollups=False, access_trail=access_trail)
                    assert as_counters(via_rollups) == as_counters(via_events) == expected, (params, plan)
    assert taken_away > 20  # the users' questions: all types from the rollups, less the others' facts


def test_backfilled_events_are_counted_in_their_own_hour(world, api):
    start = window_start()
    store(world.acme, [{"occurred_at": iso(start + timedelta(minutes=m)), "actor": {"id": "a"}, "action": "X",
                        "resource": {"type": "t"}} for m in (5, 59, 60, 210)])  # fmt: skip
    relay(world.acme)
    params = {"from": iso(start), "to": iso(start + timedelta(hours=4)), "interval": "hour"}
    body = api(world.acme.tokens[Role.USER]).get("/api/v1/logs/stats", params).json()
    assert [r["count"] for r in body["series"]] == [2, 1, 0, 1]  # empty buckets included
    assert body["total"] == 4 and body["interval"] == "hour"
    minute = api(world.acme.tokens[Role.USER]).get("/api/v1/logs/stats", {**params, "interval": "minute"}).json()
    assert len(minute["series"]) == 240 and sum(r["count"] for r in minute["series"]) == 4
    assert minute["series"][5]["count"] == 1 and minute["series"][59]["count"] == 1
    day = api(world.acme.tokens[Role.USER]).get("/api/v1/logs/stats", {**params, "interval": "day"}).json()
    assert [r["count"] for r in day["series"]] == [4]


def test_a_batch_handed_over_twice_counts_once(world):
    start = window_start()
    bodies = random_bodies(start, 40, seed=3)
    store(world.acme, bodies)
    connection.set_tenant(world.acme.tenant)
    try:
        events = list(Event.objects.filter(occurred_at__gte=start, occurred_at__lt=start + timedelta(hours=30)))
        assert len(events) == 40
        rollups_relay_handler(events)
        rollups_relay_handler(events)  # the relay hands the batch over again
        rollups_relay_handler(events[:10] + events[:10])  # and part of it, twice in one batch
        relay_drain()  # the outbox entries of the same events
        hours = ValueRollup.objects.filter(bucket__gte=start, bucket__lt=start + timedelta(hours=30))
        for dimension in ("action", "severity", "resource_type", "source"):
            assert sum(r.count for r in hours.filter(dimension=dimension)) == 40
        days = ActorRollup.objects.filter(bucket__gte=day_floor(start), bucket__lt=start + timedelta(hours=30))
        assert sum(r.count for r in days) == 40
        months = ActorMonthRollup.objects.filter(
            bucket__gte=start - timedelta(days=31), bucket__lt=start + timedelta(hours=30)
        )
        assert sum(r.count for r in months) == 40
        cube = CubeRollup.objects.filter(bucket__gte=day_floor(start), bucket__lt=start + timedelta(hours=30))
        assert {kept: sum(r.count for r in cube.filter(kept=kept)) for kept in range(1, 16)} == dict.fromkeys(
            range(1, 16), 40
        )  # every cuboid counts each event once
        for model in (ActorValueRollup, ActorValueMonthRollup):
            rows = model.objects.filter(bucket__gte=start - timedelta(days=31), bucket__lt=start + timedelta(hours=30))
            for dimension in ("action", "severity", "resource_type", "source"):
                assert sum(r.count for r in rows.filter(dimension=dimension)) == 40
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(DISTINCT (combination, actor)) FROM analytics_stats_fact "
                "WHERE occurred_at >= %s AND occurred_at < %s",
                [start, start + timedelta(hours=30)],
            )
            facts, pairs = cursor.fetchone()
        assert facts == 40 and pairs > 1  # one fact per event
    finally:
        connection.set_schema_to_public()


def test_rebuild_recounts_after_deletions_and_for_events_stored_without_the_relay(world):
    start = window_start()
    bodies = random_bodies(start, 60, seed=11)
    store(world.acme, bodies)
    params = {"from": iso(day_floor(start)), "to": iso(day_floor(start) + timedelta(days=2)), "interval": "hour"}
    connection.set_tenant(world.acme.tenant)
    try:
        assert rollups_rebuild(since=start, before=start + timedelta(hours=30)) == 0  # still waiting for the relay
        relay_drain()
        connection.set_tenant(world.acme.tenant)
        ValueRollup.objects.filter(bucket__gte=start, bucket__lt=start + timedelta(hours=30)).delete()
        ActorRollup.objects.filter(bucket__gte=day_floor(start), bucket__lt=start + timedelta(hours=30)).delete()
        CubeRollup.objects.filter(bucket__gte=day_floor(start), bucket__lt=start + timedelta(hours=30)).delete()
        ActorValueRollup.objects.filter(bucket__gte=day_floor(start), bucket__lt=start + timedelta(hours=30)).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM analytics_stats_fact WHERE occurred_at >= %s AND occurred_at < %s",
                [start, start + timedelta(hours=30)],
            )
        assert rollups_rebuild(since=start, before=start + timedelta(hours=30)) == 60
        cutoff = start + timedelta(hours=10, minutes=30)
        Event.objects.filter(occurred_at__gte=start, occurred_at__lt=cutoff).delete()  # retention
        rollups_rebuild(since=start, before=cutoff)
    finally:
        connection.set_schema_to_public()
    kept = [b for b in bodies if datetime.fromisoformat(b["occurred_at"]) >= cutoff]
    via_rollups, plan = selector_stats(world.acme, params, use_rollups=True)
    assert (plan.series, plan.actors) == ("values", "actors")
    assert as_counters(via_rollups) == naive_stats(kept, params, "hour")
    for extra in (
        {"severity": "ERROR,INFO", "interval": "day"},
        {"action": "LOGIN", "source": "web", "interval": "day"},
    ):
        via_cube, plan = selector_stats(world.acme, {**params, **extra}, use_rollups=True)
        assert plan.dimensions == "cube" and plan.actors == ("facts" if "source" in extra else "actor_values")
        assert as_counters(via_cube) == naive_stats(kept, {**params, **extra}, "day")
    # The facts alone (actor types), by the hour: recounted too.
    extra = {"actor_type": "service,system", "interval": "hour"}
    via_facts, plan = selector_stats(world.acme, {**params, **extra}, use_rollups=True)
    assert plan.sources() == {"facts"}
    assert as_counters(via_facts) == naive_stats(kept, {**params, **extra}, "hour")


def test_another_tenants_events_are_never_counted(world, api):
    start = window_start()
    acme_bodies = random_bodies(start, 30, seed=1)
    store(world.acme, acme_bodies)
    store(world.globex, random_bodies(start, 50, seed=2))
    relay(world.acme)
    relay(world.globex)
    for extra in ({}, {"tag": "red,green,blue"}, {"actor_id": "alice,bob,cron,svc-a,carol"}):
        params = {"from": iso(start), "to": iso(start + timedelta(hours=30)), **extra}
        body = api(world.acme.keys["read"]).get("/api/v1/logs/stats", params).json()
        assert body["total"] == 30
        body = api(world.globex.tokens[Role.USER]).get("/api/v1/logs/stats", params).json()
        assert body["total"] == 50


def test_users_and_read_keys_do_not_count_the_access_trail(world, api):
    start = window_start()
    trail = {"actor": {"id": "reader"}, "action": "SEARCH", "resource": {"type": "log"}, "source": ACCESS_TRAIL_SOURCE}
    store(world.acme, [{**trail, "occurred_at": iso(start + timedelta(minutes=m))} for m in (1, 2, 3)])
    store(world.acme, [{"occurred_at": iso(start + timedelta(minutes=9)), "actor": {"id": "x"}, "action": "A",
                        "resource": {"type": "t"}}])  # fmt: skip
    relay(world.acme)
    for extra in ({}, {"interval": "minute"}, {"actor_id": "reader,x"}, {"q": "nothing"}):
        params = {"from": iso(start), "to": iso(start + timedelta(hours=1)), **extra}
        seen = {}
        for who in (world.acme.tokens[Role.USER], world.acme.keys["read"], world.acme.tokens[Role.AUDITOR]):
            seen[who] = api(who).get("/api/v1/logs/stats", params).json()
        if "q" in extra:
            continue
        assert seen[world.acme.tokens[Role.USER]]["total"] == 1
        assert seen[world.acme.keys["read"]]["total"] == 1
        assert seen[world.acme.tokens[Role.USER]]["top_actors"] == [{"actor_id": "x", "actor_type": "user", "count": 1}]
        assert seen[world.acme.tokens[Role.AUDITOR]]["total"] == 4
        assert {"value": ACCESS_TRAIL_SOURCE, "count": 3} in seen[world.acme.tokens[Role.AUDITOR]]["by_source"]


@pytest.mark.parametrize("who", ["ingest", "export", "anonymous"])
def test_who_may_not_read_statistics(world, api, who):
    credential = None if who == "anonymous" else world.acme.keys[who]
    response = api(credential).get("/api/v1/logs/stats")
    assert response.status_code == (401 if who == "anonymous" else 403)


def test_statistics_refuse_bad_input(world, api):
    client = api(world.acme.tokens[Role.USER])
    cases = [
        ({"interval": "week"}, "interval"),
        ({"interval": "minute"}, "interval"),  # no `from`
        ({"from": "2020-01-01T00:00:00Z", "to": "2020-03-01T00:00:00Z", "interval": "minute"}, "interval"),
        ({"limit": "5"}, "limit"),
        ({"severity": "LOUD"}, "severity"),
        ({"from": "yesterday"}, "from"),
    ]
    for params, field in cases:
        response = client.get("/api/v1/logs/stats", params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]["details"], params


def test_the_default_interval_follows_the_time_range(world, api):
    client = api(world.acme.tokens[Role.USER])
    base = datetime(2001, 1, 1, tzinfo=UTC)
    for span, interval in ((timedelta(hours=2), "minute"), (timedelta(days=3), "hour"), (timedelta(days=40), "day")):
        body = client.get("/api/v1/logs/stats", {"from": iso(base), "to": iso(base + span)}).json()
        assert body["interval"] == interval
        assert body["total"] == 0
    assert client.get("/api/v1/logs/stats").json()["interval"] == "day"


def test_actor_pieces_cover_each_day_of_the_range_exactly_once():
    rng = random.Random(5)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(300):
        low = base + timedelta(days=rng.randint(0, 400))
        high = low + timedelta(days=rng.randint(1, 120))
        net: Counter = Counter()
        for table, start, end, sign in _month_pieces("days", "months", low, high):
            day = start
            while day < end:
                net[day] += sign
                day += timedelta(days=1)
            assert table == "months" or sign == -1 or (end - start) * 2 <= timedelta(days=62), (low, high)
        assert +net == Counter({low + timedelta(days=i): 1 for i in range((high - low).days)}), (low, high)
        assert not -net, (low, high)
