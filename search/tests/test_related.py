"""GET /api/v1/logs/{id}/related: every link, order, pages, the event itself left out, isolation, the trail."""

import uuid
from datetime import UTC, datetime, timedelta

from django.db import connection

from ingest.models import Event
from ingest.services import ACCESS_TRAIL_SOURCE, events_record
from tenants.models import Role

T0 = datetime(2026, 10, 3, 9, 0, tzinfo=UTC)


def body(minutes: int, *, corr=None, req=None, sess=None, source=None, actor="alice") -> dict:
    out = {
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "actor": {"id": actor, **({"session_id": sess} if sess else {})},
        "action": "UPDATE",
        "resource": {"type": "order"},
        "message": f"at {minutes}",
        "context": {k: v for k, v in (("correlation_id", corr), ("request_id", req)) if v},
    }
    if source:
        out["source"] = source
    return out


def ids_by_message(tenant) -> dict:
    connection.set_tenant(tenant)
    try:
        return {
            e.message: str(e.id)
            for e in Event.objects.filter(occurred_at__gte=T0, occurred_at__lt=T0 + timedelta(days=1))
        }
    finally:
        connection.set_schema_to_public()


def related(client, event_id, **params):
    return client.get(f"/api/v1/logs/{event_id}/related", params)


def links(tag: str) -> tuple[str, str, str]:
    u = uuid.uuid4().hex[:8]
    return f"corr-{tag}-{u}", f"req-{tag}-{u}", f"sess-{tag}-{u}"


def test_events_sharing_any_link_oldest_first_without_the_event_itself(world, api):
    corr, req, sess = links("a")
    events_record(
        world.acme.tenant,
        [
            body(10, corr=corr, req=req, sess=sess),  # the event
            body(30, corr=corr),  # shares the correlation id
            body(5, req=req),  # the request id, and is older
            body(20, sess=sess, actor="bob"),  # the session id
            body(25, corr=corr, req=req),  # two links: listed once
            body(15, corr="other", req="other", sess="other"),  # shares nothing
            body(1),  # no links
        ],
    )
    events_record(world.globex.tenant, [body(12, corr=corr, req=req, sess=sess)])  # same links, other tenant
    ids = ids_by_message(world.acme.tenant)
    response = related(api(world.acme.tokens[Role.USER]), ids["at 10"])
    assert response.status_code == 200, response.content
    result = response.json()
    assert [e["message"] for e in result["results"]] == ["at 5", "at 20", "at 25", "at 30"]
    assert result["next"] is None
    shared = {e["message"]: e for e in result["results"]}
    assert shared["at 20"]["actor"]["session_id"] == sess and shared["at 5"]["context"]["request_id"] == req

    # From a related event, the links are its own: "at 30" shares only the correlation id.
    response = related(api(world.acme.keys["read"]), ids["at 30"])
    assert [e["message"] for e in response.json()["results"]] == ["at 10", "at 25"]
    # No links: nothing related.
    assert related(api(world.acme.keys["read"]), ids["at 1"]).json() == {"results": [], "next": None}


def test_pages_follow_next_to_the_end(world, api):
    corr, _, _ = links("p")
    events_record(world.acme.tenant, [body(m, corr=corr) for m in range(7)])
    ids = ids_by_message(world.acme.tenant)
    client = api(world.acme.tokens[Role.AUDITOR])
    seen, url = [], f"/api/v1/logs/{ids['at 3']}/related?limit=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [e["message"] for e in page["results"]]
        url = page["next"]
    assert seen == ["at 0", "at 1", "at 2", "at 4", "at 5", "at 6"]


def test_another_tenants_event_is_not_found_and_its_events_never_listed(world, api):
    corr, req, sess = links("i")
    events_record(world.globex.tenant, [body(40, corr=corr, req=req, sess=sess)])
    events_record(world.acme.tenant, [body(41, corr=corr, req=req, sess=sess), body(42, corr=corr)])
    globex_id = ids_by_message(world.globex.tenant)["at 40"]
    response = related(api(world.acme.tokens[Role.ADMIN]), globex_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"]
    response = related(api(world.globex.tokens[Role.ADMIN]), globex_id)
    assert response.status_code == 200 and response.json()["results"] == []
    assert related(api(world.acme.tokens[Role.ADMIN]), "not-a-uuid").status_code == 404


def test_the_access_trail_is_hidden_from_users(world, api):
    corr, req, _ = links("t")
    events_record(
        world.acme.tenant,
        [body(50, req=req, corr=corr), body(51, req=req, source=ACCESS_TRAIL_SOURCE), body(52, corr=corr)],
    )
    ids = ids_by_message(world.acme.tenant)
    user, auditor = api(world.acme.tokens[Role.USER]), api(world.acme.tokens[Role.AUDITOR])
    assert [e["message"] for e in related(user, ids["at 50"]).json()["results"]] == ["at 52"]
    assert [e["message"] for e in related(auditor, ids["at 50"]).json()["results"]] == ["at 51", "at 52"]
    assert related(user, ids["at 51"]).status_code == 404
    assert related(api(world.acme.keys["read"]), ids["at 51"]).status_code == 404
    assert related(auditor, ids["at 51"]).status_code == 200


def test_who_may_read_related_events_and_bad_input(world, api):
    events_record(world.acme.tenant, [body(60, corr="c-60")])
    event_id = ids_by_message(world.acme.tenant)["at 60"]
    assert related(api(None), event_id).status_code == 401
    assert related(api(world.acme.keys["ingest"]), event_id).status_code == 403
    assert related(api(world.acme.keys["export"]), event_id).status_code == 403
    client = api(world.acme.keys["read"])
    for params, field in (({"limit": "0"}, "limit"), ({"cursor": "junk"}, "cursor"), ({"action": "X"}, "action")):
        response = related(client, event_id, **params)
        assert response.status_code == 400 and field in response.json()["error"]["details"]
