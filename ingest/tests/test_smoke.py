def test_ingest_then_list(world, api, make_event):
    created = api(world.acme.keys["ingest"]).post("/api/v1/logs", make_event(message="hello"), format="json")
    assert created.status_code == 201, created.content
    listed = api(world.acme.keys["read"]).get("/api/v1/logs")
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["results"]] == [created.json()["id"]]
