"""Encryption at rest: what is stored (raw SQL), who sees what (list, detail, live tail, the writer), ciphertext
moved or edited, the search mirror's documents."""

import asyncio
import base64

import orjson
import pytest
from django.db import connection

from conftest import event_body
from ingest.crypto import ENCRYPTED_MARK, UNREADABLE_MARK
from ingest.models import Event
from ingest.representation import event_json
from search.audience import FULL, RESTRICTED
from search.filters import EventFilter
from search.mirror.documents import document_source
from search.tail import filter_key, render_batch, select
from tenants.keys import KeyNotLoaded, data_keys_forget
from tenants.models import Role
from tenants.services import api_key_create, tenant_settings_update

URL = "/api/v1/logs"
SENSITIVE = ["metadata.diagnosis", "metadata.card.holder", "metadata.profile"]
CHANGES = {"before": {"city": "Paris", "plan": "free"}, "after": {"city": "Lyon", "plan": "pro"}}
METADATA = {
    "diagnosis": "hay fever",
    "card": {"holder": "Jane Q. Public", "brand": "visa"},
    "profile": {"hobby": "chess", "nested": {"lucky": 4321}},
    "plan": "gold",
}
PLAINTEXTS = ["Paris", "Lyon", "hay fever", "Jane Q. Public", "chess", "4321"]


pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.fixture
def sensitive(world):
    tenant_settings_update(tenant=world.acme.tenant, changes={"sensitive_fields": SENSITIVE})
    tenant_settings_update(tenant=world.globex.tenant, changes={"sensitive_fields": SENSITIVE})


def post(api, world, marker, tw=None, **extra) -> dict:
    tw = tw or world.acme
    body = event_body(source=marker, changes=CHANGES, metadata=METADATA, **extra)
    response = api(tw.keys["ingest"]).post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def raw_row(tenant, event_id) -> tuple[str, str, list]:
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT changes::text, metadata::text, changed_fields FROM "{tenant.schema_name}".ingest_event '
            "WHERE id = %s",
            [event_id],
        )
        return cursor.fetchone()


def set_raw(tenant, event_id, changes: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{tenant.schema_name}".ingest_event SET changes = %s::jsonb WHERE id = %s', [changes, event_id]
        )


def test_the_stored_row_holds_no_plaintext_of_changes_or_sensitive_fields(world, api, marker, sensitive):
    event = post(api, world, marker)
    changes, metadata, changed_fields = raw_row(world.acme.tenant, event["id"])
    for secret in PLAINTEXTS:
        assert secret not in changes and secret not in metadata, secret
    stored_changes, stored_metadata = orjson.loads(changes), orjson.loads(metadata)
    assert set(stored_changes) == {"before", "after"}
    assert all(set(side) == {"$enc"} and side["$enc"].startswith("v1:") for side in stored_changes.values())
    assert set(stored_metadata["diagnosis"]) == {"$enc"} and set(stored_metadata["profile"]) == {"$enc"}
    assert stored_metadata["card"]["brand"] == "visa" and set(stored_metadata["card"]["holder"]) == {"$enc"}
    assert stored_metadata["plan"] == "gold"  # not sensitive: in clear, searchable
    assert changed_fields == ["city", "plan"]  # field names are not secret


def test_bulk_events_are_encrypted_each_with_its_own_nonce(world, api, marker, sensitive):
    bodies = [event_body(source=marker, changes=CHANGES, metadata=METADATA) for _ in range(3)]
    response = api(world.acme.keys["ingest"]).post(f"{URL}/bulk", {"events": bodies}, format="json")
    assert response.status_code == 201
    rows = [raw_row(world.acme.tenant, i) for i in response.json()["ids"]]
    assert not any(secret in row[0] + row[1] for row in rows for secret in PLAINTEXTS)
    assert len({row[0] for row in rows}) == 3  # the same content, three different ciphertexts


def test_an_event_without_sensitive_content_is_stored_as_sent(world, api, marker):
    body = event_body(source=marker, metadata=METADATA, changes={"before": None, "after": None})
    event = api(world.acme.keys["ingest"]).post(URL, body, format="json").json()
    changes, metadata, _ = raw_row(world.acme.tenant, event["id"])
    assert orjson.loads(metadata) == METADATA and orjson.loads(changes) == {"before": None, "after": None}
    assert event["metadata"] == METADATA


def test_auditors_admins_and_export_keys_see_decrypted_values(world, api, marker, sensitive):
    event = post(api, world, marker)
    assert "Lyon" not in raw_row(world.acme.tenant, event["id"])[0]  # stored encrypted, shown decrypted
    _, export_key = api_key_create(tenant=world.acme.tenant, name="read and export", scopes=["read", "export"])
    for credential in (world.acme.tokens[Role.AUDITOR], world.acme.tokens[Role.ADMIN], export_key):
        detail = api(credential).get(f"{URL}/{event['id']}")
        listed = api(credential).get(URL, {"source": marker})
        assert detail.status_code == listed.status_code == 200
        for shown in (detail.json(), listed.json()["results"][0]):
            assert shown["changes"] == CHANGES and shown["metadata"] == METADATA
            assert shown["changed_fields"] == ["city", "plan"]


def test_users_read_keys_and_the_writer_see_the_mask(world, api, marker, sensitive):
    event = post(api, world, marker)
    masked_metadata = {
        "diagnosis": ENCRYPTED_MARK,
        "card": {"holder": ENCRYPTED_MARK, "brand": "visa"},
        "profile": ENCRYPTED_MARK,
        "plan": "gold",
    }
    masked_changes = {"before": ENCRYPTED_MARK, "after": ENCRYPTED_MARK}
    assert event["changes"] == masked_changes and event["metadata"] == masked_metadata  # the POST answer
    for credential in (world.acme.tokens[Role.USER], world.acme.keys["read"]):
        detail = api(credential).get(f"{URL}/{event['id']}").json()
        listed = api(credential).get(URL, {"source": marker}).json()["results"][0]
        for shown in (detail, listed):
            assert shown["changes"] == masked_changes and shown["metadata"] == masked_metadata
            assert not any(secret in orjson.dumps(shown).decode() for secret in PLAINTEXTS)


def test_a_ciphertext_moved_to_another_tenant_or_event_does_not_decrypt(world, api, marker, sensitive):
    acme_event = post(api, world, marker)
    globex_event = post(api, world, marker, tw=world.globex)
    other_acme_event = post(api, world, marker)
    stolen, _, _ = raw_row(world.acme.tenant, acme_event["id"])
    set_raw(world.globex.tenant, globex_event["id"], stolen)
    set_raw(world.acme.tenant, other_acme_event["id"], stolen)
    unreadable = {"before": UNREADABLE_MARK, "after": UNREADABLE_MARK}
    globex_view = api(world.globex.tokens[Role.AUDITOR]).get(f"{URL}/{globex_event['id']}")
    assert globex_view.status_code == 200 and globex_view.json()["changes"] == unreadable
    acme_view = api(world.acme.tokens[Role.AUDITOR]).get(f"{URL}/{other_acme_event['id']}")
    assert acme_view.status_code == 200 and acme_view.json()["changes"] == unreadable
    original = api(world.acme.tokens[Role.AUDITOR]).get(f"{URL}/{acme_event['id']}")
    assert original.json()["changes"] == CHANGES  # where it belongs it still opens


@pytest.mark.parametrize(
    "edit",
    [
        lambda sealed: _flip_a_bit(sealed),
        lambda sealed: sealed.replace("v1:", "v2:", 1),  # an unknown format
        lambda sealed: "v1:999:" + sealed.split(":", 2)[2],  # a key version that does not exist
        lambda sealed: "v1:1:***",  # not base64
        lambda sealed: 42,  # not even a string
    ],
)
def test_tampering_is_detected_and_shown_as_unreadable(world, api, marker, sensitive, edit):
    event = post(api, world, marker)
    changes = orjson.loads(raw_row(world.acme.tenant, event["id"])[0])
    changes["after"]["$enc"] = edit(changes["after"]["$enc"])
    set_raw(world.acme.tenant, event["id"], orjson.dumps(changes).decode())
    for role in (Role.AUDITOR, Role.USER):
        response = api(world.acme.tokens[role]).get(f"{URL}/{event['id']}")
        assert response.status_code == 200
    shown = api(world.acme.tokens[Role.AUDITOR]).get(f"{URL}/{event['id']}").json()
    assert shown["changes"] == {"before": CHANGES["before"], "after": UNREADABLE_MARK}


def _flip_a_bit(sealed: str) -> str:
    fmt, version, data = sealed.split(":", 2)
    raw = bytearray(base64.urlsafe_b64decode(data))
    raw[20] ^= 1  # in the ciphertext, after the nonce
    return f"{fmt}:{version}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"


def test_a_sensitive_path_inside_another_is_encrypted_once(world, api, marker):
    tenant_settings_update(
        tenant=world.acme.tenant, changes={"sensitive_fields": ["metadata.card.holder", "metadata.card"]}
    )
    event = post(api, world, marker)
    _, metadata, _ = raw_row(world.acme.tenant, event["id"])
    assert set(orjson.loads(metadata)["card"]) == {"$enc"}
    shown = api(world.acme.tokens[Role.AUDITOR]).get(f"{URL}/{event['id']}").json()
    assert shown["metadata"] == METADATA


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": {"card": {"$enc": "v1:1:AAAA"}}},
        {"changes": {"before": None, "after": {"$enc": "v1:1:AAAA"}}},
        {"changes": {"before": {"a": [{"$enc": "x", "b": 1}]}, "after": None}},
    ],
)
def test_a_client_cannot_send_a_value_shaped_like_an_encrypted_one(world, api, marker, body):
    response = api(world.acme.keys["ingest"]).post(URL, event_body(source=marker, **body), format="json")
    assert response.status_code == 400
    assert any(path.endswith(".$enc") for path in response.json()["error"]["details"])


def test_the_mirror_documents_carry_only_ciphertext(world, api, marker, sensitive):
    event = post(api, world, marker)
    connection.set_tenant(world.acme.tenant)
    try:
        source = document_source(Event.objects.get(id=event["id"]))
    finally:
        connection.set_schema_to_public()
    text = orjson.dumps(source).decode()
    assert not any(secret in text for secret in PLAINTEXTS)
    assert source["metadata"]["diagnosis"].keys() == {"$enc"} and source["changes"]["after"].keys() == {"$enc"}
    assert "s:plan=gold" in source["metadata_terms"]
    assert not any(term.startswith(("s:diagnosis", "s:card.holder", "s:profile")) for term in source["metadata_terms"])


def test_the_tail_renders_a_batch_per_audience_and_loads_a_missing_key_first(world, api, marker, sensitive):
    """The event loop never reads the database: a key not cached is asked for (KeyNotLoaded), loaded in a thread
    by the consumer, and the rendering is then shared by the connections of the same filter and audience."""
    event = post(api, world, marker)
    tenant = world.acme.tenant
    connection.set_tenant(tenant)
    try:
        raw = orjson.dumps([event_json(Event.objects.get(id=event["id"]))], default=str)
    finally:
        connection.set_schema_to_public()
    everything = EventFilter()
    key = filter_key(everything)
    data_keys_forget()
    masked = select(raw, everything, key, tenant, RESTRICTED)  # masking needs no key
    assert orjson.loads(masked.text)["events"][0]["event"]["changes"]["after"] == ENCRYPTED_MARK
    with pytest.raises(KeyNotLoaded):
        select(raw, everything, key, tenant, FULL)
    loaded = render_batch(raw, tenant, FULL, load=True)  # what the consumer runs in a database thread then
    full = select(raw, everything, key, tenant, FULL)
    assert full.events == loaded
    assert orjson.loads(full.text)["events"][0]["event"]["changes"] == CHANGES
    assert select(raw, everything, key, tenant, FULL) is full and full is not masked


@pytest.mark.asyncio
async def test_the_live_tail_decrypts_for_auditors_and_masks_for_users_live_and_replayed(
    committed_world, marker, settings
):
    """With keys cached for no time at all, every live batch also takes the consumer's key-loading path."""
    settings.ENCRYPTION_KEY_CACHE_SECONDS = 0
    from search.cursor import cursor_encode
    from search.tests.stream_support import next_events, opened, tail, written

    w = committed_world
    first = await written(w.acme.keys["ingest"], [event_body(source=marker, changes=CHANGES)])
    since = cursor_encode(*await asyncio.to_thread(_position_before_all, w.acme.tenant, marker))
    auditor = await opened(tail({"source": marker, "since": since}, token=w.acme.tokens[Role.AUDITOR]))
    user = await opened(tail({"source": marker, "since": since}, token=w.acme.tokens[Role.USER]))
    reader = await opened(tail({"source": marker, "batch": "true"}, token=w.acme.keys["read"]))
    replayed = [(await next_events(comm, 1))[0]["event"] for comm in (auditor, user)]
    assert [e["id"] for e in replayed] == first * 2
    assert replayed[0]["changes"] == CHANGES
    assert replayed[1]["changes"] == {"before": ENCRYPTED_MARK, "after": ENCRYPTED_MARK}
    second = await written(w.acme.keys["ingest"], [event_body(source=marker, changes=CHANGES)])
    live = [(await next_events(comm, 1))[0]["event"] for comm in (auditor, user, reader)]
    assert [e["id"] for e in live] == second * 3
    assert live[0]["changes"] == CHANGES
    assert live[1]["changes"] == live[2]["changes"] == {"before": ENCRYPTED_MARK, "after": ENCRYPTED_MARK}
    for comm in (auditor, user, reader):
        await comm.disconnect()


def _position_before_all(tenant, marker):
    from search.tail import position_before

    connection.set_tenant(tenant)
    try:
        first = Event.objects.filter(source=marker).order_by("occurred_at", "id").first()
        return position_before((first.occurred_at, first.id))
    finally:
        connection.set_schema_to_public()
        connection.close()
