"""Fixtures of the search mirror's tests: the mirror off, or on against a local Elasticsearch stand-in."""

import pytest

from search.mirror import indices
from search.mirror.cluster import mirror_health_forget

from .es_standin import standin_start


def _forget():
    mirror_health_forget()
    indices._ensured.clear()


@pytest.fixture
def mirror_off(settings):
    settings.ELASTICSEARCH_URL = ""
    _forget()


@pytest.fixture
def es(settings):
    """A stand-in cluster on a loopback port, with the mirror pointed at it."""
    state, server = standin_start()
    settings.ELASTICSEARCH_URL = state.url
    _forget()
    yield state
    server.shutdown()
    server.server_close()
    _forget()
