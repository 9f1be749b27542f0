"""The Elasticsearch search mirror: an optional, rebuildable copy of each tenant's events.

Postgres stays the source of truth. The outbox relay feeds the mirror (indexing), reads
go to it when it is configured and healthy (backend), and search_reindex rebuilds it.
"""
