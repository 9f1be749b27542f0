"""Dashboard pages of the log (session sign-in): the explorer, an event's detail, the live tail.

They read through the API's selectors with the reader's audience (search.audience), so a page shows what
the API would show the same person; their reads are recorded in the access trail (search.trail.ROUTES).
"""

import uuid
from datetime import timedelta
from urllib.parse import urlencode

import orjson
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST
from rest_framework_simplejwt.tokens import AccessToken

from auditlog.errors import FieldErrors
from tenants.dashboard import dashboard_view
from tenants.models import Role

from .audience import audience_of, event_view
from .changes import change_rows
from .cursor import cursor_decode, cursor_encode
from .explorer import LogSearchForm
from .routing import websocket_urlpatterns
from .selectors import RELATED_LINKS, event_get, events_page, events_related
from .trail import trail_page_read

PAGE_SIZE = 50
RELATED_SHOWN = 20
STREAM_TOKEN_LIFETIME = timedelta(seconds=60)  # enough to open one connection; the page asks again to reconnect
STREAM_PATH = "/" + str(websocket_urlpatterns[0].pattern)


def _partial(request) -> bool:
    """An HTMX request for a part of the page (a history restore after a cache miss wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


@dashboard_view(role=Role.USER)
def logs_page(request):
    """The explorer: the search form, then the first page of results; `cursor` (Load more) the next rows."""
    form = LogSearchForm(request.GET)
    audience = audience_of(request.principal)
    cursor = request.GET.get("cursor")
    context = {"form": form, "nav_active": "logs", "events": [], "next_url": None, "searched": False}
    status = 200
    after = None
    if form.is_valid() and cursor is not None:
        try:
            after = cursor_decode(cursor)
        except FieldErrors:
            form.add_error(None, "This page of results is out of date: search again.")
    if form.is_valid():
        f = form.event_filter
        f.access_trail = audience.access_trail
        page = events_page(f, after=after, limit=PAGE_SIZE)
        query = form.query_string()
        context.update(
            events=[event_view(e, audience) for e in page.events],
            searched=True,
            query=query,
            page_url=request.path + (f"?{query}" if query else ""),
        )
        if page.next_cursor:  # the time a preset meant, fixed: the next page continues the same window
            context["next_url"] = f"{request.path}?{urlencode({**f.as_params(), 'cursor': page.next_cursor})}"
        trail_page_read(request, f, results=len(page.events))
    else:
        status = 400
    if not _partial(request):
        response = render(request, "search/logs.html", context, status=status)
    elif cursor is not None and status == 200:
        response = render(request, "search/_rows.html", context)
    else:
        response = render(request, "search/_explorer.html", context, status=status)
        # The address bar shows the canonical query (no empty fields), so it can be shared and gone back to.
        response["HX-Push-Url"] = context.get("page_url") or request.get_full_path()
        if cursor is not None:  # a Load more that failed: the whole explorer shows why, not the button's row
            response["HX-Retarget"], response["HX-Reswap"] = "#explorer", "outerHTML"
    patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
    return response


@dashboard_view(role=Role.USER)
def log_detail(request, event_id):
    """One event with its changes as a before/after table, and the events related to it."""
    audience = audience_of(request.principal)
    event = event_get(str(event_id), access_trail=audience.access_trail)
    if event is None:  # another tenant's, the access trail for a User, or none: all alike
        return render(request, "search/not_found.html", {"nav_active": "logs"}, status=404)
    related = events_related(event, access_trail=audience.access_trail, limit=RELATED_SHOWN)
    shown = event_view(event, audience)
    links = [
        (column, getattr(event, column), f"{reverse('logs:list')}?{urlencode({column: getattr(event, column)})}")
        for column in RELATED_LINKS
        if getattr(event, column)
    ]
    context = {
        "nav_active": "logs",
        "event": shown,
        "changes": change_rows(shown),
        "related": [event_view(e, audience) for e in related.events],
        "related_more": related.next_cursor is not None,
        "related_links": links,
        "masked_fields": shown.get("masked_fields") or [],
        "metadata_json": orjson.dumps(shown.get("metadata") or {}, option=orjson.OPT_INDENT_2, default=str).decode(),
    }
    return render(request, "search/detail.html", context)


@dashboard_view(role=Role.USER)
def live_page(request):
    """The live tail: its filters (as the stream takes them) are checked here; the page's script connects."""
    form = LogSearchForm(request.GET, with_time=False)
    valid = form.is_valid()
    context = {
        "nav_active": "live",
        "form": form,
        "stream_query": form.query_string() if valid else None,
        "token_url": reverse("logs:live-token"),
        # The first connection replays from here: nothing written between this page and its socket is missed.
        "since": cursor_encode(timezone.now(), uuid.UUID(int=0)),
    }
    return render(request, "search/live.html", context, status=200 if valid else 400)


@dashboard_view(role=Role.USER)
@require_POST
def live_token(request):
    """A short-lived access token of the signed-in person in this tenant, for the live tail's WebSocket (a page
    cannot send its session cookie as the stream's credential), and the stream's URL."""
    principal = request.principal
    token = AccessToken.for_user(principal.user)
    token["tenant"] = principal.tenant.slug
    token["role"] = principal.role
    token.set_exp(lifetime=STREAM_TOKEN_LIFETIME)
    scheme = "wss" if request.is_secure() else "ws"
    response = JsonResponse({"token": str(token), "url": f"{scheme}://{request.get_host()}{STREAM_PATH}"})
    response["Cache-Control"] = "no-store"
    return response
