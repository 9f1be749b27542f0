"""Search: first pages over HTTP (read key, sequential keep-alive requests) against the same SQL run directly.

The SQL of each query is the one the service runs: it is captured while search.selectors.events_page
answers the same query parameters, so the baseline follows the service when its queries change.
"""

import http.client
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import orjson
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from search.backends.postgres import filtered
from search.cursor import cursor_decode
from search.filters import parse_filters, parse_limit
from search.selectors import events_page

from .context import RESULTS, connect
from .data import (
    COMMON_WORD,
    RARE_WORD,
    SEARCH_ACTION,
    SEARCH_ACTOR,
    SEARCH_REGION,
    SEARCH_RESOURCE,
    SEARCH_SOURCE,
    SEARCH_TAG,
    now,
)
from .stats import Latencies

PAGE = 50
WARMUP = 10
MAX_SECONDS = 15  # per query and side: slow queries get fewer samples
SLOW_MS = 50


@dataclass
class Case:
    name: str
    query: str  # the query string of GET /api/v1/logs
    matches: int = 0
    http: dict = field(default_factory=dict)
    sql: dict = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)


def first_page_cases() -> list[Case]:
    day = (now() - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    filters = [
        ("no filter", {}),
        ("actor_id", {"actor_id": SEARCH_ACTOR}),
        ("action", {"action": SEARCH_ACTION}),
        ("severity=CRITICAL", {"severity": "CRITICAL"}),
        ("resource_type + resource_id", {"resource_type": SEARCH_RESOURCE[0], "resource_id": SEARCH_RESOURCE[1]}),
        ("source", {"source": SEARCH_SOURCE}),
        ("tag", {"tag": SEARCH_TAG}),
        ("metadata.region", {"metadata.region": SEARCH_REGION}),
        ("from/to, one day", {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}),
        ("q, common word", {"q": COMMON_WORD}),
        ("q, rare word", {"q": RARE_WORD}),
    ]
    return [Case(f"{name}: `{_shown(params)}`", urlencode({**params, "limit": PAGE})) for name, params in filters]


def _shown(params: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items()) or "-"


class Client:
    """Sequential GETs of /api/v1/logs over one keep-alive connection."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, query: str) -> tuple[int, bytes]:
        self.conn.request("GET", f"/api/v1/logs?{query}", headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self):
        self.conn.close()


def second_page_case(client: Client) -> Case:
    status, body = client.get(urlencode({"limit": PAGE}))
    if status != 200 or not orjson.loads(body)["next"]:
        raise RuntimeError(f"No second page of the unfiltered list: {status} {body[:300]!r}")
    return Case("second page (`next` of no filter)", urlsplit(orjson.loads(body)["next"]).query)


def _timed(operation, requests: int) -> Latencies:
    latencies = Latencies()
    deadline = time.monotonic() + MAX_SECONDS
    for index in range(WARMUP + requests):
        started = time.perf_counter()
        operation()
        if index >= WARMUP:
            latencies.add(time.perf_counter() - started)
        if time.monotonic() > deadline and latencies.count:
            break
    return latencies


def _http(client: Client, case: Case, requests: int) -> dict:
    failures = []

    def get():
        status, body = client.get(case.query)
        if status != 200:
            failures.append(f"{status} {body[:300]!r}")

    summary = _timed(get, requests).summary()
    return {**summary, "failures": failures}


def _sql(conn, sql: str, requests: int) -> dict:
    def run():
        conn.execute(sql).fetchall()

    return _timed(run, requests).summary()


def service_sql(query: str) -> tuple[str, int]:
    """The SQL the service runs for this query string (captured, parameters inlined) and the matching count."""
    f, extra = parse_filters(QueryDict(query), allowed_extra={"limit", "cursor"})
    after = cursor_decode(extra["cursor"]) if "cursor" in extra else None
    with CaptureQueriesContext(connection) as captured:
        events_page(f, after=after, limit=parse_limit(extra.get("limit")))
    statements = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    return statements[-1], filtered(f).count()


def _plan_summary(conn, sql: str, name: str) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS): its top node, distinct scan nodes and times; the full plan goes to a file."""
    lines = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    (RESULTS / f"explain-{slug}.txt").write_text(sql + "\n\n" + "\n".join(lines) + "\n")
    scans = dict.fromkeys(_node(line) for line in lines if "Scan" in line and "never executed" not in line)
    times = [line for line in lines if line.startswith(("Planning Time", "Execution Time"))]
    return [lines[0], *[f"  {scan} (on each partition read)" for scan in list(scans)[:6]], *times]


def _node(line: str) -> str:
    """A plan node without costs, partition names and aliases, so that per-partition nodes fold into one."""
    line = line.strip().removeprefix("->").strip().split("  (cost=")[0]
    line = re.sub(r"ingest_event_(p\d{6}|default)", "ingest_event_<month>", line)
    return re.sub(r" ingest_event_\d+$", "", line)


def measure(tenant, port: int, requests: int) -> list[Case]:
    """Every case over HTTP and as raw SQL; the plan of each whose HTTP p95 is over SLOW_MS."""
    for stale in RESULTS.glob("explain-*.txt"):
        stale.unlink()
    client = Client(port, tenant.read_key)
    connection.set_tenant(tenant.tenant)
    try:
        cases = [*first_page_cases(), second_page_case(client)]
        with connect(tenant.schema, prepare_threshold=None) as conn:
            for case in cases:
                sql, case.matches = service_sql(case.query)
                case.http = _http(client, case, requests)
                case.sql = _sql(conn, sql, requests)
                if case.http["p95_ms"] > SLOW_MS:
                    case.plan = _plan_summary(conn, sql, case.name)
    finally:
        connection.set_schema_to_public()
        client.close()
    return cases
