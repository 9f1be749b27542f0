"""The mirror's mapping (golden) and its tenant indices: names, creation, idempotency."""

import json
from pathlib import Path

from ingest.models import Event
from search.mirror.cluster import es_client
from search.mirror.indices import alias_name, index_create, index_current, index_ensure, index_name
from search.mirror.mapping import DERIVED_FIELDS, index_mappings

GOLDEN = Path(__file__).parent / "golden"


def test_mapping_matches_the_golden_file():
    assert index_mappings() == json.loads((GOLDEN / "mapping.json").read_text())


def test_every_event_field_is_mapped_and_nothing_else():
    fields = {f.attname for f in Event._meta.concrete_fields}
    assert set(index_mappings()["properties"]) == fields | set(DERIVED_FIELDS)


def test_names_carry_the_prefix_and_the_schema(settings):
    settings.ELASTICSEARCH_INDEX_PREFIX = "audit-prod"
    assert alias_name("t_acme") == "audit-prod-t_acme"
    assert index_name("t_acme", 3) == "audit-prod-t_acme-v3"


def test_first_use_creates_v1_with_the_mapping_behind_the_alias(es):
    assert index_ensure("t_acme") == "auditlog-t_acme"
    (create,) = es.calls("PUT", "/auditlog-t_acme-v1")
    assert create.body == {
        "settings": {"number_of_shards": 1},
        "mappings": json.loads((GOLDEN / "mapping.json").read_text()),
        "aliases": {"auditlog-t_acme": {"is_write_index": True}},
    }
    assert index_current("t_acme") == ("auditlog-t_acme-v1", 1)


def test_creating_an_index_that_exists_is_not_an_error(es):
    """Two processes may both see no alias and both create v1: the loser carries on."""
    index_create(es_client(), "auditlog-t_acme-v1", alias="auditlog-t_acme")
    index_create(es_client(), "auditlog-t_acme-v1", alias="auditlog-t_acme")
    assert len(es.calls("PUT", "/auditlog-t_acme-v1")) == 2
    assert list(es.indices) == ["auditlog-t_acme-v1"]


def test_an_existing_alias_is_not_created_again(es):
    es.indices["auditlog-t_acme-v4"] = {"docs": {}, "mappings": {}, "settings": {}}
    es.aliases["auditlog-t_acme"] = "auditlog-t_acme-v4"
    assert index_ensure("t_acme") == "auditlog-t_acme"
    assert es.calls("PUT", r"/.*") == []
    assert index_current("t_acme") == ("auditlog-t_acme-v4", 4)
