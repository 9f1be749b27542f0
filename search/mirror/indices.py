"""Tenant indices: an alias per tenant, `<prefix>-<schema>`, over one concrete index `<prefix>-<schema>-v<N>`.

Readers and the relay only ever name the alias. The first write creates v1 with the alias
(idempotent, safe to race); a rebuild fills v<N+1> and then moves the alias to it and deletes
v<N> in one atomic alias update, so readers never see a half-built index.
"""

from django.conf import settings
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from .cluster import es_client
from .mapping import INDEX_SETTINGS, index_mappings

# (cluster url, alias) pairs known to exist in this process: one check per tenant, not per batch.
_ensured: set[tuple[str, str]] = set()


def alias_name(schema_name: str) -> str:
    return f"{settings.ELASTICSEARCH_INDEX_PREFIX}-{schema_name}"


def index_name(schema_name: str, version: int) -> str:
    return f"{alias_name(schema_name)}-v{version}"


def index_create(client: Elasticsearch, index: str, *, alias: str | None = None) -> None:
    """Create a concrete index with the event mapping (and the alias, as its write index); exists is fine."""
    aliases = {alias: {"is_write_index": True}} if alias else None
    try:
        client.indices.create(index=index, settings=INDEX_SETTINGS, mappings=index_mappings(), aliases=aliases)
    except BadRequestError as exc:
        if exc.error != "resource_already_exists_exception":
            raise


def index_ensure(schema_name: str) -> str:
    """The tenant's alias, created with its first concrete index when missing. Returns the alias."""
    alias = alias_name(schema_name)
    key = (settings.ELASTICSEARCH_URL, alias)
    if key not in _ensured:
        client = es_client()
        if not client.indices.exists_alias(name=alias):
            index_create(client, index_name(schema_name, 1), alias=alias)
        _ensured.add(key)
    return alias


def index_forget(schema_name: str) -> None:
    """Check the alias again before the next write (after a failed write, e.g. an index deleted by hand)."""
    _ensured.discard((settings.ELASTICSEARCH_URL, alias_name(schema_name)))


def index_current(schema_name: str) -> tuple[str, int]:
    """The concrete index behind the tenant's alias, and its version."""
    indices = list(es_client().indices.get_alias(name=alias_name(schema_name)).body)
    if len(indices) != 1:
        raise RuntimeError(f"The alias {alias_name(schema_name)} points to {len(indices)} indices: {indices}.")
    index = indices[0]
    return index, int(index.rsplit("-v", 1)[1])


def alias_move(schema_name: str, *, to: str, previous: str) -> None:
    """Point the tenant's alias at `to` and delete `previous`, atomically."""
    es_client().indices.update_aliases(
        actions=[
            {"add": {"index": to, "alias": alias_name(schema_name), "is_write_index": True}},
            {"remove_index": {"index": previous}},
        ]
    )


def indices_drop(schema_name: str) -> list[str]:
    """Delete the tenant's concrete indices (its alias goes with them); returns their names. For a deleted tenant."""
    client = es_client()
    alias = alias_name(schema_name)
    try:
        indices = list(client.indices.get_alias(name=alias).body)
    except NotFoundError:
        indices = []
    for index in indices:
        client.indices.delete(index=index)
    index_forget(schema_name)
    return indices
