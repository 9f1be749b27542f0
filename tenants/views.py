"""Dashboard pages of the account (namespace `account`): sign-in, sign-out, tenant chooser, password change.

Sign-in attempts are counted by the API's sign-in limit (tenants.ratelimit.LoginThrottle), per client address
and per (username, address), before the password is checked; the dashboard and POST /api/v1/auth/token share
the count.
"""

from types import SimpleNamespace

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from auditlog.errors import ApiError

from .dashboard import SESSION_TENANT, dashboard_public, dashboard_view, forbidden
from .models import Role
from .ratelimit import LoginThrottle
from .selectors import membership_get, memberships_of

HOME = "/app/logs"


def signin_only(view):
    """Marks a dashboard view that needs a signed-in person but no tenant (chooser, password, sign-out)."""
    view.dashboard_signin_only = True
    return view


@dashboard_view(role=Role.USER)
def home(request):
    return redirect(HOME)


class LoginForm(AuthenticationForm):
    """Django's sign-in form; on a tenant's subdomain the person must also be a member of that tenant."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].widget.attrs.update(autocomplete="username")
        self.fields["password"].widget.attrs.update(autocomplete="current-password")

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        host_tenant = getattr(self.request, "host_tenant", None)
        if host_tenant is not None and membership_get(user_id=user.pk, tenant_slug=host_tenant.slug) is None:
            raise forms.ValidationError(f"This account is not a member of {host_tenant.name}.", code="not_member")


def _signin_refusal(request) -> ApiError | None:
    """Counts this attempt against the sign-in limits; the refusal (429, or 503 when it cannot be counted)."""
    attempt = SimpleNamespace(
        META=request.META, headers=request.headers, data={"username": request.POST.get("username", "")}
    )
    try:
        LoginThrottle().allow_request(attempt, None)
    except ApiError as refusal:
        return refusal
    return None


@method_decorator(dashboard_public, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "account/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        refusal = _signin_refusal(request)
        if refusal is not None:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, refusal.message)
            response = self.render_to_response(self.get_context_data(form=form), status=refusal.status_code)
            response["Retry-After"] = str(refusal.wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        host_tenant = getattr(self.request, "host_tenant", None)
        if host_tenant is not None:
            self.request.session[SESSION_TENANT] = host_tenant.slug
        return response

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


# Django's LogoutView answers POST only: a link or an image cannot sign anyone out.
logout = dashboard_public(auth_views.LogoutView.as_view(next_page="account:login"))


def _safe_next(request, default: str = HOME) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@signin_only
@login_required
@require_http_methods(["GET", "POST"])
def tenant_choose(request):
    """The tenants the person belongs to; choosing one keeps it in the session. On a tenant's subdomain, that
    tenant is the only choice."""
    host_tenant = getattr(request, "host_tenant", None)
    if host_tenant is not None:
        if membership_get(user_id=request.user.pk, tenant_slug=host_tenant.slug) is None:
            return forbidden(request, "You are not a member of this tenant.")
        return redirect(_safe_next(request))
    if request.method == "POST":
        slug = request.POST.get("tenant", "")
        membership = membership_get(user_id=request.user.pk, tenant_slug=slug) if slug else None
        if membership is None:
            return forbidden(request, "You are not a member of that tenant.")
        request.session[SESSION_TENANT] = membership.tenant.slug
        return redirect(_safe_next(request))
    memberships = memberships_of(request.user)
    context = {
        "memberships": memberships,
        "current": request.session.get(SESSION_TENANT),
        "next": _safe_next(request, default=""),
    }
    return render(request, "account/tenants.html", context)


@method_decorator([signin_only, login_required], name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change: the password validators apply, the new hash is Argon2, and this session stays
    signed in (its hash is updated); the person's other sessions end."""

    template_name = "account/password.html"

    def get_success_url(self):
        return reverse("account:password")

    def form_valid(self, form):
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)
