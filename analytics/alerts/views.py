"""Dashboard pages of alert rules (Admin): list, create, edit, mute, delete, and each rule's firing history.

Rules are written through analytics.alerts.services, as by the API, so filters, conditions and webhook
URLs (with their SSRF checks) are validated identically. Rules live in the tenant's schema, which the
dashboard's access rule has selected: another tenant's rule is simply not there (404).
"""

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from auditlog.errors import ApiError
from tenants.dashboard import dashboard_view
from tenants.forms import problems_of, service_errors_apply
from tenants.models import Role

from ..models.alerts import AlertDelivery, AlertFiring, AlertRule
from . import services
from .forms import MUTE_CHOICES, AlertRuleEditForm, AlertRuleForm, MuteForm

HISTORY_PAGE = 25
GET_POST = require_http_methods(["GET", "POST"])


def _page(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav_active": "settings", "settings_tab": "alerts", **context}, status=status)


def _rule(pk) -> AlertRule:
    rule = AlertRule.objects.filter(pk=pk).first()
    if rule is None:
        raise Http404("No such alert rule.")
    return rule


def _save(request, form: AlertRuleForm, rule: AlertRule | None) -> AlertRule | None:
    """Create or update through the service; its errors go on the form (and nothing is stored)."""
    data = form.service_data()
    try:
        if rule is None:
            return services.alert_rule_create(data=data, created_by=request.principal.actor)
        return services.alert_rule_update(rule=rule, data=data)
    except ApiError as exc:
        service_errors_apply(
            form, exc, AlertRuleForm.SERVICE_FIELDS, {"filters": data["filters"], "emails": data["emails"]}
        )
        return None


@dashboard_view(role=Role.ADMIN)
@require_http_methods(["GET"])
def rule_list(request):
    rules = AlertRule.objects.order_by("id")
    return _page(request, "alerts/list.html", {"rules": rules, "mute_choices": MUTE_CHOICES})


@dashboard_view(role=Role.ADMIN)
@GET_POST
def rule_create(request):
    form = AlertRuleForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        rule = _save(request, form, None)
        if rule is not None:
            messages.success(request, f"The alert rule {rule.name} was created.")
            return redirect("alerts:detail", pk=rule.pk)
    status = 400 if request.method == "POST" else 200
    return _page(request, "alerts/form.html", {"form": form, "rule": None}, status)


@dashboard_view(role=Role.ADMIN)
@GET_POST
def rule_detail(request, pk: int):
    """The rule's settings (editable) and its webhook secret, which signs each notification."""
    rule = _rule(pk)
    if request.method == "POST":
        form = AlertRuleEditForm(request.POST)
        if form.is_valid() and _save(request, form, rule) is not None:
            messages.success(request, f"The alert rule {rule.name} was saved.")
            return redirect("alerts:detail", pk=rule.pk)
        rule.refresh_from_db()  # the page shows what is stored, not the refused values
        status = 400
    else:
        form = AlertRuleEditForm(initial=AlertRuleForm.initial_of(rule))
        status = 200
    response = _page(request, "alerts/form.html", {"form": form, "rule": rule, "mute_choices": MUTE_CHOICES}, status)
    add_never_cache_headers(response)  # it shows the webhook secret
    return response


@dashboard_view(role=Role.ADMIN)
@require_http_methods(["POST"])
def rule_mute(request, pk: int):
    """Mute for a while (firings are recorded, nothing is sent) or unmute."""
    rule = _rule(pk)
    form = MuteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how long to mute the rule for.")
        return redirect("alerts:list")
    try:
        services.alert_rule_update(rule=rule, data={"muted_until": form.muted_until(timezone.now())})
    except ApiError as exc:
        messages.error(request, f"{rule.name} was not changed: {' '.join(problems_of(exc))}")
    else:
        _muted_message(request, rule)
    if request.POST.get("back") == "detail":
        return redirect("alerts:detail", pk=rule.pk)
    return redirect("alerts:list")


def _muted_message(request, rule: AlertRule) -> None:
    if rule.is_muted():
        messages.success(request, f"{rule.name} is muted until {rule.muted_until:%Y-%m-%d %H:%M} UTC.")
    else:
        messages.success(request, f"{rule.name} is no longer muted.")


@dashboard_view(role=Role.ADMIN)
@GET_POST
def rule_delete(request, pk: int):
    """GET: confirm; POST: delete the rule with its history."""
    rule = _rule(pk)
    if request.method == "POST":
        services.alert_rule_delete(rule=rule)
        messages.success(request, f"The alert rule {rule.name} was deleted.")
        return redirect("alerts:list")
    return _page(request, "alerts/delete.html", {"rule": rule, "firings": rule.firings.count()})


@dashboard_view(role=Role.ADMIN)
@require_http_methods(["GET"])
def rule_history(request, pk: int):
    """The rule's firings, newest first, with their deliveries; older pages by `?before=<firing id>`."""
    rule = _rule(pk)
    firings = AlertFiring.objects.filter(rule=rule).order_by("-id")
    before = request.GET.get("before", "")
    if before:
        if not before.isdigit() or len(before) > 18:
            return _page(
                request,
                "alerts/history.html",
                {"rule": rule, "firings": [], "bad_before": True, "first_page": True},
                400,
            )
        firings = firings.filter(id__lt=int(before))
    page = list(
        firings.prefetch_related(Prefetch("deliveries", queryset=AlertDelivery.objects.order_by("id")))[
            : HISTORY_PAGE + 1
        ]
    )
    older = page[HISTORY_PAGE - 1].pk if len(page) > HISTORY_PAGE else None
    context = {"rule": rule, "firings": page[:HISTORY_PAGE], "older": older, "first_page": not before}
    if getattr(request, "htmx", False):
        return _page(request, "alerts/_firings.html", context)
    return _page(request, "alerts/history.html", context)
