"""The connection to the Elasticsearch cluster: whether the mirror is on, the client, its health.

Health is probed with a short timeout and remembered per process for a few seconds,
so choosing a read backend costs nothing most of the time.
"""

import functools
import logging
import time

from django.conf import settings
from elasticsearch import Elasticsearch

logger = logging.getLogger(__name__)

# url -> (monotonic time of the probe, healthy)
_health: dict[str, tuple[float, bool]] = {}


class MirrorOff(Exception):
    """The mirror is not configured (ELASTICSEARCH_URL is empty)."""


def mirror_enabled() -> bool:
    return bool(settings.ELASTICSEARCH_URL)


@functools.lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> Elasticsearch:
    # No transport retries: the relay retries whole batches, and reads fall back to Postgres.
    return Elasticsearch(url, request_timeout=timeout, max_retries=0, retry_on_timeout=False)


def es_client() -> Elasticsearch:
    if not mirror_enabled():
        raise MirrorOff("The search mirror is off: set ELASTICSEARCH_URL.")
    return _client(settings.ELASTICSEARCH_URL, settings.ELASTICSEARCH_TIMEOUT)


def es_search_client() -> Elasticsearch:
    """The client for reads: a read that would take longer is better answered by Postgres."""
    return es_client().options(request_timeout=settings.ELASTICSEARCH_SEARCH_TIMEOUT)


def _probe() -> bool:
    client = es_client().options(request_timeout=settings.ELASTICSEARCH_HEALTH_TIMEOUT)
    try:
        return client.cluster.health()["status"] in ("green", "yellow")
    except Exception as exc:  # noqa: BLE001 - any failure means not healthy
        logger.warning("search mirror health check failed: %s", exc.__class__.__name__)
        return False


def mirror_healthy() -> bool:
    """Whether reads may go to the mirror: configured, and its cluster answered green or yellow lately."""
    if not mirror_enabled():
        return False
    url, now = settings.ELASTICSEARCH_URL, time.monotonic()
    checked = _health.get(url)
    if checked is None or now - checked[0] >= settings.ELASTICSEARCH_HEALTH_TTL:
        checked = (now, _probe())
        _health[url] = checked
    return checked[1]


def mirror_mark_unhealthy() -> None:
    """A request to the mirror failed: serve from Postgres until the next probe."""
    _health[settings.ELASTICSEARCH_URL] = (time.monotonic(), False)


def mirror_health_forget() -> None:
    """Forget remembered probes: the next read probes again."""
    _health.clear()
