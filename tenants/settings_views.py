"""Dashboard settings pages of a tenant: members and roles, API keys, and the tenant's policies.

Each page calls the services the API calls (tenants.services), so the same rules hold: the last Admin stays,
scopes and expiry are checked, masking rules and RE2 patterns are validated whole before anything is stored.
Pages are Admin only, except the policy page, which an Auditor may read.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from auditlog.errors import ApiError

from . import services
from .dashboard import dashboard_view, forbidden
from .forms import (
    LIMIT_LABELS,
    ApiKeyCreateForm,
    MemberCreateForm,
    MemberRoleForm,
    PolicyForm,
    problems_of,
    service_errors_apply,
)
from .models import ApiKey, Membership, Role, TenantSettings
from .policies import LIMIT_NAMES, Policy

GET_POST = require_http_methods(["GET", "POST"])


def _page(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav_active": "settings", **context}, status=status)


# Members


def _membership(request, pk) -> Membership:
    membership = Membership.objects.filter(tenant=request.tenant, pk=pk).select_related("user").first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def _members_page(request, *, form=None, row_errors=None, status=200):
    members = Membership.objects.filter(tenant=request.tenant).select_related("user").order_by("id")
    return _page(
        request,
        "settings/members.html",
        {
            "settings_tab": "members",
            "members": members,
            "form": form or MemberCreateForm(),
            "roles": Role.choices,
            "row_errors": row_errors or {},
        },
        status,
    )


def _after_own_change(request, membership: Membership):
    """Where to go once the signed-in person changed their own membership (they may have lost this page)."""
    if membership.user_id == request.user.pk:
        return redirect("account:home")
    return redirect("settings:members")


@dashboard_view(role=Role.ADMIN)
@GET_POST
def members(request):
    """The tenant's people and roles; POST adds a person, as POST /api/v1/members does."""
    if request.method != "POST":
        return _members_page(request)
    form = MemberCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            membership = services.member_create(
                tenant=request.tenant,
                username=data["username"],
                email=data["email"],
                password=data["password"],
                role=data["role"],
            )
        except ApiError as exc:
            if exc.details:
                service_errors_apply(form, exc)
            else:  # the username is taken
                form.add_error("username", exc.message)
        else:
            messages.success(request, f"{membership.user.username} was added as {membership.get_role_display()}.")
            return redirect("settings:members")
    return _members_page(request, form=form, status=400)


@dashboard_view(role=Role.ADMIN)
@require_http_methods(["POST"])
def member_role(request, pk: int):
    """Change a member's role (the service keeps the tenant's last Admin)."""
    membership = _membership(request, pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, row_errors={membership.pk: form.errors["role"]}, status=400)
    before = membership.role
    try:
        services.member_update(membership=membership, role=form.cleaned_data["role"])
    except ApiError as exc:
        problems = problems_of(exc)
        return _members_page(request, row_errors={membership.pk: problems}, status=400)
    if membership.role != before:
        messages.success(request, f"{membership.user.username} is now {membership.get_role_display()}.")
    return _after_own_change(request, membership)


@dashboard_view(role=Role.ADMIN)
@GET_POST
def member_remove(request, pk: int):
    """GET: confirm; POST: remove the member from the tenant (not the person from other tenants)."""
    membership = _membership(request, pk)
    context = {"settings_tab": "members", "member": membership, "errors": []}
    if request.method == "POST":
        try:
            services.member_delete(membership=membership)
        except ApiError as exc:
            context["errors"] = problems_of(exc)
            return _page(request, "settings/member_remove.html", context, status=400)
        messages.success(request, f"{membership.user.username} was removed from {request.tenant.name}.")
        return _after_own_change(request, membership)
    return _page(request, "settings/member_remove.html", context)


# API keys


def _key(request, pk) -> ApiKey:
    key = ApiKey.objects.filter(tenant=request.tenant, pk=pk).first()
    if key is None:
        raise Http404("No such key.")
    return key


def key_state(key: ApiKey, now) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


@dashboard_view(role=Role.ADMIN)
@GET_POST
def keys(request):
    """The tenant's API keys; POST creates one and shows its secret on this response only."""
    form = ApiKeyCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            key, secret = services.api_key_create(
                tenant=request.tenant,
                name=data["name"],
                scopes=data["scopes"],
                created_by=request.user,
                expires_at=data.get("expires_at"),
            )
        except ApiError as exc:
            service_errors_apply(form, exc)
        else:
            # The secret exists only in this response: not stored, not in a URL, not cached anywhere.
            response = _page(
                request, "settings/key_created.html", {"settings_tab": "keys", "key": key, "secret": secret}
            )
            add_never_cache_headers(response)
            return response
    now = timezone.now()
    rows = [(key, key_state(key, now)) for key in ApiKey.objects.filter(tenant=request.tenant).order_by("-created_at")]
    status = 400 if request.method == "POST" else 200
    return _page(request, "settings/keys.html", {"settings_tab": "keys", "rows": rows, "form": form}, status)


@dashboard_view(role=Role.ADMIN)
@GET_POST
def key_revoke(request, pk: int):
    """GET: confirm; POST: revoke the key (it stops working at once)."""
    key = _key(request, pk)
    if request.method == "POST":
        services.api_key_revoke(key=key)
        messages.success(request, f"The key {key.name} ({key.prefix}) was revoked.")
        return redirect("settings:keys")
    return _page(
        request,
        "settings/key_revoke.html",
        {"settings_tab": "keys", "key": key, "state": key_state(key, timezone.now())},
    )


# Policy


def policy_values(tenant) -> tuple[dict, dict]:
    """(the effective settings, as GET /api/v1/settings shows them; the limits the tenant set itself)."""
    row = TenantSettings.objects.filter(tenant=tenant).first()
    policy = Policy.of(row)
    values = {
        "retention_days": policy.retention_days,
        "masking": {
            "keys": row.masking.get("keys", []) if row else [],
            "paths": list(policy.masking.paths),
            "patterns": [p.pattern for p in policy.masking.patterns],
        },
        "sensitive_fields": list(policy.sensitive_fields),
        "limits": policy.limits,
        "updated_at": row.updated_at if row else None,
    }
    return values, dict(row.limits) if row else {}


@dashboard_view(role=Role.AUDITOR)
@GET_POST
def policy(request):
    """Retention, masking rules, sensitive fields and rate limits: Auditors read them, Admins change them."""
    can_edit = request.principal.has_role(Role.ADMIN)
    if request.method == "POST" and not can_edit:
        return forbidden(request, "Only an Admin can change the tenant's policies.")
    values, stored_limits = policy_values(request.tenant)
    defaults = Policy.of(None).limits
    status = 200
    if request.method == "POST":
        form = PolicyForm(request.POST, defaults=defaults)
        if form.is_valid():
            changes = form.changes()
            try:
                services.tenant_settings_update(tenant=request.tenant, changes=changes)
            except ApiError as exc:
                service_errors_apply(
                    form,
                    exc,
                    PolicyForm.SERVICE_FIELDS,
                    entries={
                        "masking.keys": changes["masking"]["keys"],
                        "masking.paths": changes["masking"]["paths"],
                        "masking.patterns": changes["masking"]["patterns"],
                        "sensitive_fields": changes["sensitive_fields"],
                    },
                )
            else:
                messages.success(request, "The policies were saved; they take effect within a minute.")
                return redirect("settings:policy")
        status = 400
    else:
        form = PolicyForm(initial=PolicyForm.initial_of(values, stored_limits), defaults=defaults)
    limits = [(LIMIT_LABELS[name], values["limits"].get(name), name in stored_limits) for name in LIMIT_NAMES]
    context = {"settings_tab": "policy", "form": form, "can_edit": can_edit, "values": values, "limits": limits}
    return _page(request, "settings/policy.html", context, status)
