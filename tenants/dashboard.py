"""The dashboard's access rule: `@dashboard_view(role=...)` on every page view (session sign-in, one tenant).

    from tenants.dashboard import dashboard_view
    from tenants.models import Role

    @dashboard_view(role=Role.USER)  # or Role.AUDITOR / Role.ADMIN
    def logs_page(request): ...

Before the view runs:
- anonymous -> 302 to the login page (`?next=<path>`); an HTMX request gets `HX-Redirect` instead, so the
  login page is not swapped into a fragment;
- the tenant is resolved: the host's tenant subdomain (`acme.localhost:8000`) wins, and the person must be
  a member of it (else 403); otherwise the tenant chosen in the session; a person with one membership gets it
  directly; several -> 302 to the chooser (`account:tenants`), as does a person with none;
- the membership is read again on every request (as the API does for JWTs), so a removed member or a
  changed role takes effect at once;
- below the role -> the 403 page (HTML, in the dashboard's layout).

Inside the view: `request.tenant`, `request.role`, and `request.principal` (a tenants.principal.Principal of
kind "user", the object the API's authentication produces, also set as `request.auth`, so the access trail
and services treat it as they do an API caller). The database connection is in the tenant's schema until the
view returns; a TemplateResponse is rendered before the schema is reset. A streaming response must not read
the tenant's tables lazily after the view returns.

The wrapped view carries `dashboard_role` (the minimum role); public pages (login) carry
`dashboard_public = True`. tenants/tests/test_dashboard_access.py walks every dashboard route and checks both.
"""

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject, cached_property
from django_htmx.http import HttpResponseClientRedirect

from .models import ROLE_RANK, Membership, Role
from .principal import Principal
from .selectors import membership_get, memberships_of

SESSION_TENANT = "dashboard_tenant"  # the slug of the tenant chosen in this session
# The URL namespaces of the dashboard's pages (auditlog/urls.py), all under /app/.
DASHBOARD_NAMESPACES = frozenset({"account", "settings", "alerts", "logs", "stats", "exports"})


def dashboard_public(view):
    """Marks a dashboard view that needs no sign-in (the login page)."""
    view.dashboard_public = True
    return view


def _redirect(request, url: str):
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _to_login(request):
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(f"{reverse('account:login')}?{urlencode({'next': request.get_full_path()})}")
    return redirect_to_login(request.get_full_path(), login_url=reverse("account:login"))


def _to_chooser(request):
    return _redirect(request, f"{reverse('account:tenants')}?{urlencode({'next': request.get_full_path()})}")


def forbidden(request, message: str):
    """The dashboard's 403 page."""
    return render(request, "dashboard/403.html", {"message": message}, status=403)


def membership_for_request(request) -> Membership | None:
    """The membership this request works in (see the module docstring), or None when none is decided yet.

    Raises PermissionError when the host names a tenant the person is not a member of."""
    user = request.user
    host_tenant = getattr(request, "host_tenant", None)
    if host_tenant is not None:
        membership = membership_get(user_id=user.pk, tenant_slug=host_tenant.slug)
        if membership is None:
            raise PermissionError("You are not a member of this tenant.")
        return membership
    slug = request.session.get(SESSION_TENANT)
    if slug:
        membership = membership_get(user_id=user.pk, tenant_slug=slug)
        if membership is not None:
            return membership
        del request.session[SESSION_TENANT]  # the membership was removed meanwhile
    memberships = memberships_of(user)
    if len(memberships) == 1:
        request.session[SESSION_TENANT] = memberships[0].tenant.slug
        return membership_get(user_id=user.pk, tenant_slug=memberships[0].tenant.slug)
    return None


def dashboard_view(*, role: str):
    """Decorates a dashboard page view: signed in, a tenant resolved, at least `role` in it."""
    if role not in ROLE_RANK:
        raise ValueError(f"Unknown role {role!r}")

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _to_login(request)
            try:
                membership = membership_for_request(request)
            except PermissionError as refusal:
                return forbidden(request, str(refusal))
            if membership is None:
                return _to_chooser(request)
            principal = Principal(kind="user", tenant=membership.tenant, user=membership.user, role=membership.role)
            request.tenant = membership.tenant
            request.role = membership.role
            request.principal = request.auth = principal
            if not principal.has_role(role):
                return forbidden(request, f"This page needs the {Role(role).label} role in {membership.tenant.name}.")
            connection.set_tenant(membership.tenant)
            try:
                response = view(request, *args, **kwargs)
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
                return response
            finally:
                connection.set_schema_to_public()

        wrapped.dashboard_role = role
        return wrapped

    return decorate


def _current_principal(request) -> Principal | None:
    """On pages without a tenant of their own (password, chooser): the tenant already decided, for the layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    host_tenant = getattr(request, "host_tenant", None)
    slug = host_tenant.slug if host_tenant is not None else request.session.get(SESSION_TENANT)
    membership = membership_get(user_id=user.pk, tenant_slug=slug) if slug else None
    if membership is None:
        return None
    return Principal(kind="user", tenant=membership.tenant, user=membership.user, role=membership.role)


class DashboardContext:
    """What the layout needs: the tenant, the role and what it may see (templates: `dashboard`)."""

    def __init__(self, request):
        self.request = request
        self.principal = getattr(request, "principal", None)
        if self.principal is None:
            self.principal = _current_principal(request)
        self.tenant = self.principal.tenant if self.principal else None
        self.role = self.principal.role if self.principal else None

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role else ""

    @property
    def is_auditor(self) -> bool:
        return bool(self.principal and self.principal.has_role(Role.AUDITOR))

    @property
    def is_admin(self) -> bool:
        return bool(self.principal and self.principal.has_role(Role.ADMIN))

    @cached_property
    def can_switch(self) -> bool:
        """Several memberships and no tenant fixed by the host."""
        user = self.request.user
        if not user.is_authenticated or getattr(self.request, "host_tenant", None) is not None:
            return False
        return Membership.objects.filter(user=user).count() > 1


def dashboard_context(request) -> dict:
    """Template context processor: `dashboard` (a DashboardContext, made only when a template uses it)."""
    return {"dashboard": SimpleLazyObject(lambda: DashboardContext(request))}
