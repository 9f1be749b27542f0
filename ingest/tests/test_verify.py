"""GET /api/v1/logs/verify: recomputes the chain from the stored rows and names the first broken link.

Tampering is done the way an intruder with database access would: SQL on the tenant's event table.
"""

import uuid

import pytest
from django.db import connection

from ingest.models import Event
from ingest.sealing import ChainError, chain_anchor_set, chain_head, events_seal, link_hash
from search.trail import trail_discard, trail_flush
from tenants.models import Role

from .test_sealing import canonical_of, chained, in_tenant, post

URL = "/api/v1/logs/verify"


@pytest.fixture
def chain(world):
    """acme with a clean chain of its own (rolled back with the test): 10 sealed events, sequences 1 to 10."""
    in_tenant(world.acme.tenant)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ingest_event")
        cursor.execute("UPDATE ingest_chain SET sequence = 0, hash = repeat('0', 64), sealed_at = NULL")
        cursor.execute("DELETE FROM ingest_chain_anchor")
    post(world.acme.tenant, 10, metadata={"n": 1}, context={"ip": "10.1.2.3"})
    events_seal(margin=0)
    events = chained()
    assert [e.sequence for e in events] == list(range(1, 11))
    connection.set_schema_to_public()
    return events


@pytest.fixture
def auditor(world, api):
    return api(world.acme.tokens[Role.AUDITOR])


def sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def tamper(world, statement: str, params=()):
    in_tenant(world.acme.tenant)
    try:
        sql(statement, params)
    finally:
        connection.set_schema_to_public()


def test_an_intact_chain_verifies(chain, auditor):
    response = auditor.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["checked"] == 10
    assert (body["first_sequence"], body["last_sequence"]) == (1, 10)
    assert body["head"]["sequence"] == 10 and body["head"]["hash"] == chain[-1].hash and body["anchor"] is None


@pytest.mark.parametrize(
    "change",
    [
        "message = 'rewritten'",
        "actor_id = 'mallory'",
        "metadata = '{\"n\": 2}'",
        'changes = \'{"before": null, "after": {"$enc": "v1:1:forged"}}\'',
        "ip = '10.1.2.4'",
        "received_at = received_at + interval '1 microsecond'",
        "occurred_at = occurred_at - interval '1 second'",
        "tags = '{x}'",
        "masked_fields = '{}'::text[] || 'message'::text",
        "hash = repeat('a', 64)",
    ],
)
def test_an_edited_row_is_found_at_its_sequence(chain, auditor, world, change):
    tamper(world, f"UPDATE ingest_event SET {change} WHERE sequence = 4")
    body = auditor.get(URL).json()
    assert body["ok"] is False and body["checked"] == 3
    assert body["broken_at"] == {"sequence": 4, "event_id": str(chain[3].id), "reason": "hash mismatch"}


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(chain, auditor, world):
    in_tenant(world.acme.tenant)
    sql("UPDATE ingest_event SET message = 'rewritten' WHERE sequence = 4")
    sql(
        "UPDATE ingest_event SET hash = %s WHERE sequence = 4", [link_hash(chain[2].hash, 4, canonical_of(chain[3].id))]
    )
    connection.set_schema_to_public()
    body = auditor.get(URL).json()
    assert body["broken_at"] == {"sequence": 5, "event_id": str(chain[4].id), "reason": "hash mismatch"}


def test_a_deleted_row_is_a_missing_sequence(chain, auditor, world):
    tamper(world, "DELETE FROM ingest_event WHERE sequence = 6")
    body = auditor.get(URL).json()
    assert body["ok"] is False and body["checked"] == 5
    assert body["broken_at"] == {"sequence": 6, "event_id": None, "reason": "missing sequence"}


def test_deleting_the_newest_sealed_row_is_found(chain, auditor, world):
    tamper(world, "DELETE FROM ingest_event WHERE sequence = 10")
    assert auditor.get(URL).json()["broken_at"] == {"sequence": 10, "event_id": None, "reason": "missing sequence"}


def _insert_copy(world, of_sequence: int, **set_columns) -> uuid.UUID:
    """A copy of the event at of_sequence under a new id and message, with these columns set (SQL)."""
    new_id = uuid.uuid4()
    in_tenant(world.acme.tenant)
    try:
        columns = [c for c in _event_columns() if c != "search_vector"]
        names = ", ".join(columns)
        chosen = ", ".join(
            f"'{new_id}'::uuid" if c == "id" else "'forged'" if c == "message" else set_columns.get(c, c)
            for c in columns
        )
        sql(f"INSERT INTO ingest_event ({names}) SELECT {chosen} FROM ingest_event WHERE sequence = %s", [of_sequence])
    finally:
        connection.set_schema_to_public()
    return new_id


def _event_columns() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'ingest_event'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum"
        )
        return [row[0] for row in cursor.fetchall()]


def test_an_inserted_row_at_a_taken_sequence_is_unexpected(chain, auditor, world):
    forged = _insert_copy(world, 5)
    body = auditor.get(URL).json()
    assert body["ok"] is False and body["checked"] == 4
    assert body["broken_at"] == {"sequence": 5, "event_id": str(forged), "reason": "unexpected row"}


def test_an_inserted_row_with_a_fitting_link_at_a_taken_sequence_is_unexpected(chain, auditor, world):
    forged = _insert_copy(world, 5)
    in_tenant(world.acme.tenant)
    sql("UPDATE ingest_event SET hash = %s WHERE id = %s", [link_hash(chain[3].hash, 5, canonical_of(forged)), forged])
    connection.set_schema_to_public()
    body = auditor.get(URL).json()
    assert body["checked"] == 4
    assert body["broken_at"]["sequence"] == 5 and body["broken_at"]["reason"] == "unexpected row"
    assert body["broken_at"]["event_id"] in {str(forged), str(chain[4].id)}


def test_an_inserted_row_whose_hash_fits_the_chain_still_breaks_the_next_link(chain, auditor, world):
    """A forged row at sequence 5 with a correct link, the original moved aside: the original's successor no
    longer fits."""
    in_tenant(world.acme.tenant)
    sql("DELETE FROM ingest_event WHERE sequence = 5")
    connection.set_schema_to_public()
    forged = _insert_copy(world, 4, sequence="5")
    in_tenant(world.acme.tenant)
    sql("UPDATE ingest_event SET hash = %s WHERE id = %s", [link_hash(chain[3].hash, 5, canonical_of(forged)), forged])
    connection.set_schema_to_public()
    body = auditor.get(URL).json()
    assert body["checked"] == 5
    assert body["broken_at"] == {"sequence": 6, "event_id": str(chain[5].id), "reason": "hash mismatch"}


def test_a_row_sealed_beyond_the_head_is_unexpected(chain, auditor, world):
    forged = _insert_copy(world, 10, sequence="11")
    body = auditor.get(URL).json()
    assert body["ok"] is False and body["checked"] == 10
    assert body["broken_at"] == {"sequence": 11, "event_id": str(forged), "reason": "unexpected row"}


def test_a_head_that_disagrees_with_the_last_row_is_found(chain, auditor, world):
    tamper(world, "UPDATE ingest_chain SET hash = repeat('b', 64)")
    assert auditor.get(URL).json()["broken_at"] == {
        "sequence": 10,
        "event_id": str(chain[9].id),
        "reason": "hash mismatch",
    }


def test_a_deleted_head_leaves_every_sealed_event_unexpected(chain, auditor, world):
    tamper(world, "DELETE FROM ingest_chain")
    body = auditor.get(URL).json()
    assert body["broken_at"] == {"sequence": 1, "event_id": str(chain[0].id), "reason": "unexpected row"}


def test_a_range_is_linked_to_the_stored_hash_before_it(chain, auditor, world):
    body = auditor.get(URL, {"from_sequence": 4, "to_sequence": 7}).json()
    assert body == {**body, "ok": True, "checked": 4, "first_sequence": 4, "last_sequence": 7}
    tamper(world, "UPDATE ingest_event SET message = 'x' WHERE sequence = 2")
    assert auditor.get(URL, {"from_sequence": 4}).json()["ok"] is True  # outside the range
    assert auditor.get(URL, {"to_sequence": 3}).json()["broken_at"]["sequence"] == 2
    tamper(world, "DELETE FROM ingest_event WHERE sequence = 3")
    assert auditor.get(URL, {"from_sequence": 4}).json()["broken_at"] == {
        "sequence": 3,
        "event_id": None,
        "reason": "missing sequence",
    }


def test_verification_reads_the_rows_in_fetches_of_bounded_size(chain, auditor, world, monkeypatch):
    monkeypatch.setattr("ingest.sealing.VERIFY_FETCH_ROWS", 3)  # 10 events: four fetches from the cursor
    assert auditor.get(URL).json()["checked"] == 10
    tamper(world, "UPDATE ingest_event SET message = 'x' WHERE sequence = 8")
    assert auditor.get(URL).json()["broken_at"]["sequence"] == 8


def test_a_long_chain_is_verified_in_parts_each_linked_to_the_last(chain, auditor, world, monkeypatch):
    monkeypatch.setattr("ingest.sealing.VERIFY_MAX_EVENTS", 4)
    first = auditor.get(URL).json()
    assert (first["ok"], first["checked"], first["first_sequence"], first["last_sequence"]) == (True, 4, 1, 4)
    assert first["next"] == "http://testserver/api/v1/logs/verify?from_sequence=5"
    second = auditor.get(first["next"]).json()
    assert (second["checked"], second["first_sequence"], second["last_sequence"]) == (4, 5, 8)
    third = auditor.get(second["next"]).json()
    assert (third["checked"], third["last_sequence"], third["next"]) == (2, 10, None)
    assert auditor.get(URL, {"to_sequence": 6}).json()["next"].endswith("?from_sequence=5&to_sequence=6")
    tamper(world, "UPDATE ingest_event SET message = 'x' WHERE sequence = 7")
    assert auditor.get(URL).json()["ok"] is True  # 1 to 4
    broken = auditor.get(second["next"].replace("=9", "=5")).json()
    assert broken["broken_at"]["sequence"] == 7 and "next" not in broken


def test_a_range_beyond_the_head_checks_nothing(chain, auditor):
    body = auditor.get(URL, {"from_sequence": 11}).json()
    assert body == {**body, "ok": True, "checked": 0, "first_sequence": None, "last_sequence": None}
    assert auditor.get(URL, {"to_sequence": 99}).json()["last_sequence"] == 10


def test_unsealed_events_are_not_part_of_the_chain(chain, auditor, world):
    post(world.acme.tenant, 2)
    connection.set_schema_to_public()
    assert auditor.get(URL).json()["checked"] == 10


def test_retention_below_an_anchor_keeps_the_chain_verifiable(chain, auditor, world):
    in_tenant(world.acme.tenant)
    anchor = chain_anchor_set(sequence=4)
    assert (anchor.sequence, anchor.hash) == (4, chain[3].hash)
    sql("DELETE FROM ingest_event WHERE sequence <= 4")  # what retention does after recording the anchor
    connection.set_schema_to_public()
    body = auditor.get(URL).json()
    assert body["ok"] is True and body["checked"] == 6 and body["first_sequence"] == 5
    assert body["anchor"] == {"sequence": 4, "hash": chain[3].hash}
    assert auditor.get(URL, {"from_sequence": 1}).json()["first_sequence"] == 5
    tamper(world, "DELETE FROM ingest_event WHERE sequence = 7")
    assert auditor.get(URL).json()["broken_at"] == {"sequence": 7, "event_id": None, "reason": "missing sequence"}


def test_deleting_below_no_anchor_is_found(chain, auditor, world):
    tamper(world, "DELETE FROM ingest_event WHERE sequence <= 4")
    assert auditor.get(URL).json()["broken_at"] == {"sequence": 1, "event_id": None, "reason": "missing sequence"}


def test_an_anchor_is_refused_over_a_broken_range_or_out_of_order(chain, world):
    in_tenant(world.acme.tenant)
    try:
        with pytest.raises(ChainError, match="not sealed"):
            chain_anchor_set(sequence=11)
        chain_anchor_set(sequence=3)
        with pytest.raises(ChainError, match="already anchored"):
            chain_anchor_set(sequence=3)
        sql("UPDATE ingest_event SET message = 'x' WHERE sequence = 5")
        with pytest.raises(ChainError, match="broken"):
            chain_anchor_set(sequence=6)
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(sequence) FROM ingest_chain_anchor")
            assert cursor.fetchone()[0] == 3
    finally:
        connection.set_schema_to_public()


@pytest.mark.parametrize(
    "who, status",
    [
        ("acme Auditor", 200),
        ("acme Admin", 200),
        ("acme User", 403),
        ("acme read key", 403),
        ("acme export key", 403),
        ("acme ingest key", 403),
        ("anonymous", 401),
    ],
)
def test_auditors_and_admins_verify_others_are_refused(chain, world, api, who, status):
    credential = {
        "acme Auditor": world.acme.tokens[Role.AUDITOR],
        "acme Admin": world.acme.tokens[Role.ADMIN],
        "acme User": world.acme.tokens[Role.USER],
        "acme read key": world.acme.keys["read"],
        "acme export key": world.acme.keys["export"],
        "acme ingest key": world.acme.keys["ingest"],
        "anonymous": None,
    }[who]
    response = api(credential).get(URL)
    assert response.status_code == status
    if status != 200:
        assert "error" in response.json()


def test_a_tenant_verifies_its_own_chain_only(chain, world, api):
    in_tenant(world.globex.tenant)
    events_seal(margin=0)
    globex_head = chain_head()
    connection.set_schema_to_public()
    tamper(world, "DELETE FROM ingest_event WHERE sequence = 2")
    globex = api(world.globex.tokens[Role.ADMIN]).get(URL).json()
    assert globex["ok"] is True and globex["head"]["sequence"] == globex_head["sequence"]
    assert globex["checked"] == globex_head["sequence"]
    assert api(world.acme.tokens[Role.ADMIN]).get(URL).json()["ok"] is False


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from_sequence": "abc"}, "from_sequence"),
        ({"from_sequence": "0"}, "from_sequence"),
        ({"to_sequence": "-3"}, "to_sequence"),
        ({"to_sequence": "99999999999999999999"}, "to_sequence"),
        ({"from_sequence": "5", "to_sequence": "4"}, "to_sequence"),
        ({"from": "2026-01-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(chain, auditor, params, field):
    response = auditor.get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]


def test_a_verification_is_recorded_in_the_access_trail(chain, auditor, world):
    trail_discard()
    assert auditor.get(URL, {"from_sequence": 2}).status_code == 200
    assert trail_flush() == 1
    in_tenant(world.acme.tenant)
    try:
        recorded = Event.objects.get(source="auditlog", action="VERIFY")
        assert recorded.actor_id == f"user:{world.acme.users[Role.AUDITOR].pk}"
        assert recorded.metadata["route"] == "log-verify"
    finally:
        connection.set_schema_to_public()


def test_a_refused_verification_is_not_recorded(chain, world, api):
    trail_discard()
    assert api(world.acme.tokens[Role.USER]).get(URL).status_code == 403
    assert trail_flush() == 0
