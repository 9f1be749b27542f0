"""POST /api/v1/logs/bulk: all or nothing, per-index errors, duplicates, limits."""

import uuid

import pytest

from conftest import count_events, event_body

URL = "/api/v1/logs/bulk"


def test_bulk_stores_every_event_in_order(world, api, marker):
    events = [event_body(source=marker, message=f"m{i}") for i in range(250)]
    response = api(world.acme.keys["ingest"]).post(URL, {"events": events}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 250 and body["duplicates"] == 0
    assert len(set(body["ids"])) == 250
    assert count_events(world.acme.tenant, source=marker) == 250
    first = api(world.acme.keys["read"]).get(f"/api/v1/logs/{body['ids'][7]}")
    assert first.json()["message"] == "m7"


def test_single_event_bulk(world, api, marker):
    response = api(world.acme.keys["ingest"]).post(URL, {"events": [event_body(source=marker)]}, format="json")
    assert response.status_code == 201
    assert response.json()["created"] == 1


def test_one_bad_event_rejects_the_batch(world, api, marker):
    events = [event_body(source=marker) for _ in range(5)]
    events[1]["action"] = "bad action"
    events[3] = {"actor": {"id": "x"}, "source": marker}
    response = api(world.acme.keys["ingest"]).post(URL, {"events": events}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["invalid_indexes"] == [1, 3]
    assert "events.1.action" in error["details"]
    assert {"events.3.action", "events.3.resource"} <= set(error["details"])
    assert "nothing was stored" in error["message"]
    assert count_events(world.acme.tenant, source=marker) == 0


def test_duplicates_within_and_across_batches(world, api, marker):
    client = api(world.acme.keys["ingest"])
    known = str(uuid.uuid4())
    first = client.post(URL, {"events": [event_body(event_id=known, source=marker)]}, format="json").json()
    again = str(uuid.uuid4())
    events = [
        event_body(event_id=known, source=marker),
        event_body(event_id=again, source=marker),
        event_body(event_id=again, source=marker),
        event_body(source=marker),
    ]
    response = client.post(URL, {"events": events}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["duplicates"]) == (2, 2)
    assert body["ids"][0] == first["ids"][0] == known
    assert body["ids"][1] == body["ids"][2] == again
    assert count_events(world.acme.tenant, source=marker) == 3


def test_foreign_tenant_in_any_item_rejects_the_batch(world, api, marker):
    events = [event_body(source=marker), event_body(source=marker, tenant_id="globex")]
    response = api(world.acme.keys["ingest"]).post(URL, {"events": events}, format="json")
    assert response.status_code == 403
    assert count_events(world.acme.tenant, source=marker) == 0


@pytest.mark.parametrize(
    "payload",
    [{"events": []}, {"events": "x"}, {"items": []}, {"events": [], "extra": 1}, [event_body()], {"events": [5]}],
)
def test_bad_envelopes(world, api, payload):
    response = api(world.acme.keys["ingest"]).post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_more_than_the_limit_is_400(world, api, marker):
    events = [{"actor": {"id": "a"}, "action": "X", "resource": {"type": "t"}, "source": marker}] * 1001
    response = api(world.acme.keys["ingest"]).post(URL, {"events": events}, format="json")
    assert response.status_code == 400
    assert "1000" in response.json()["error"]["details"]["events"][0]
    assert count_events(world.acme.tenant, source=marker) == 0


def test_bulk_needs_the_ingest_scope(world, api):
    payload = {"events": [event_body()]}
    assert api(world.acme.keys["read"]).post(URL, payload, format="json").status_code == 403
    assert api(world.acme.tokens["USER"]).post(URL, payload, format="json").status_code == 403
    assert api(None).post(URL, payload, format="json").status_code == 401
    assert api(world.acme.tokens["ADMIN"]).post(URL, payload, format="json").status_code == 201


def test_body_over_the_cap_is_413_json(world, api, marker, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    events = [event_body(source=marker, message="x" * 1000) for _ in range(100)]
    response = api(world.acme.keys["ingest"]).post(URL, {"events": events}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert count_events(world.acme.tenant, source=marker) == 0


def test_bulk_stores_list_fields_exactly(world, api, marker):
    """Tags, changed fields and masked fields go into COPY in PostgreSQL's array syntax: quotes, backslashes,
    commas, braces, spaces, tabs and words like NULL come back as sent."""
    tricky = ['q"uote', "back\\slash", "com,ma", "{brace}", "in side", "NULL", "tab\there", "ünï €", "\\N", "end\\"]
    before = {key: 1 for key in tricky}
    after = {key: 2 for key in tricky} | {'my"password': "hunter2"}
    events = [event_body(source=marker, tags=tricky, changes={"before": before, "after": after})]
    events.append(event_body(source=marker, tags=[]))
    response = api(world.acme.keys["ingest"]).post(URL, {"events": events}, format="json")
    assert response.status_code == 201, response.content
    reader = api(world.acme.keys["read"])
    stored = reader.get(f"/api/v1/logs/{response.json()['ids'][0]}").json()
    assert stored["tags"] == tricky
    assert stored["changed_fields"] == sorted(tricky + ['my"password'])
    assert stored["masked_fields"] == ['changes.after.my"password']
    assert reader.get(f"/api/v1/logs/{response.json()['ids'][1]}").json()["tags"] == []
