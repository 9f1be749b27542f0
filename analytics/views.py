"""Dashboard page: /app/stats, the statistics of the log as charts (every role).

The numbers are analytics.stats.log_stats's, under the filters of the API (parsed by its parser) and the
reader's audience (Users do not count the access trail), exactly as GET /api/v1/logs/stats answers. The
read is recorded in the access trail as the API's is.
"""

from urllib.parse import urlencode

from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

from search.audience import audience_of
from search.trail import filters_of, trail_event, trail_note
from tenants.dashboard import dashboard_view
from tenants.models import Role

from .charts import Bar, bar_chart, series_chart
from .forms import StatsFilterForm
from .stats import log_stats

EXPLORER = "/app/logs"  # the log explorer; its query string is the API's filters
NO_SOURCE = "(no source)"
DIMENSION_TITLES = {
    "severity": "Events by severity",
    "action": "Events by action",
    "resource_type": "Events by resource type",
    "source": "Events by source",
}

_CLIENT = BaseThrottle()


def explorer_url(base_params: dict, **narrow) -> str:
    """The explorer under the page's filters, narrowed to one value of a dimension."""
    return f"{EXPLORER}?{urlencode({**base_params, **narrow})}"


def _dimension(stats: dict, name: str, base_params: dict) -> dict:
    rows = []
    for item in stats[f"by_{name}"]:
        value = item["value"]
        href = explorer_url(base_params, **{name: value}) if value is not None else None
        rows.append({"label": NO_SOURCE if value is None else value, "count": item["count"], "href": href})
    title = DIMENSION_TITLES[name]
    chart = bar_chart(
        [Bar(row["label"], row["count"], row["href"]) for row in rows],
        name=name,
        title=title,
        desc=f"{len(rows)} values, most frequent first; the table below has the same numbers.",
    )
    return {"name": name, "title": title, "rows": rows, "chart": chart}


def _actors(stats: dict, base_params: dict) -> dict:
    rows = [
        {
            "label": f"{item['actor_id']} ({item['actor_type']})",
            "count": item["count"],
            "href": explorer_url(base_params, actor_id=item["actor_id"], actor_type=item["actor_type"]),
        }
        for item in stats["top_actors"]
    ]
    chart = bar_chart(
        [Bar(row["label"], row["count"], row["href"]) for row in rows],
        name="actors",
        title="Top actors",
        desc=f"The {len(rows)} most active actors; the table below has the same numbers.",
    )
    return {"name": "actors", "title": "Top actors", "rows": rows, "chart": chart}


def _record(request, f, interval: str) -> None:
    body = trail_event(
        "log-stats",
        request.principal,
        filters=filters_of(f),
        ip=_CLIENT.get_ident(request),
        user_agent=request.META.get("HTTP_USER_AGENT"),
        request_id=request.META.get("HTTP_X_REQUEST_ID"),
        interval=interval,
    )
    body["metadata"]["route"] = "stats:stats"
    trail_note(request.principal.tenant, body)


@dashboard_view(role=Role.USER)
def stats_page(request):
    form = StatsFilterForm(request.GET)
    context = {"nav_active": "stats", "form": form, "stats": None}
    status = 200
    if form.is_valid():
        f, interval = form.event_filter, form.interval
        f.access_trail = audience_of(request.principal).access_trail
        stats = log_stats(f, interval=interval)
        base_params = f.as_params()
        series = stats["series"]
        context.update(
            stats=stats,
            interval=interval,
            access_trail=f.access_trail,
            explorer_all=explorer_url(base_params),
            series_chart=series_chart(
                [(bucket["start"], bucket["count"]) for bucket in series],
                name="series",
                interval=interval,
                title="Events over time",
                desc=f"{stats['total']:,} events in {len(series)} buckets of one {interval} (UTC); "
                "the table below has the numbers.",
            ),
            dimensions=[_dimension(stats, name, base_params) for name in ("severity", "action", "resource_type")],
            sources=_dimension(stats, "source", base_params),
            actors=_actors(stats, base_params),
        )
        _record(request, f, interval)
    else:
        status = 400
    return render(request, "analytics/stats.html", context, status=status)
