"""Django admin for platform staff: tenants, domains, people, memberships, API keys, and a tenant's events, read-only.

Tenants are created through tenants.services.tenant_create (schema, subdomain, first Admin, data key), as the
API creates them. API keys are made by a tenant's Admin (the secret is shown once, there); staff can revoke them.
A tenant's events are shown only to staff who are members of that tenant (SPEC: platform staff cannot read a
tenant's events unless made a member), as the member's role sees them (search.audience), and the reading is
recorded in the tenant's access trail like any other read.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from auditlog.errors import ApiError, FieldErrors

from .models import ApiKey, Domain, Membership, Role, Tenant, User
from .principal import Principal
from .selectors import membership_get
from .services import api_key_revoke, tenant_create

EVENTS_PAGE = 50


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["tenant"]
    fields = ["tenant", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "is_staff", "is_active", "tenants", "last_login", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "memberships__tenant", "memberships__role"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("memberships__tenant")

    @admin.display(description="Tenants")
    def tenants(self, obj):
        return ", ".join(f"{m.tenant.slug} ({m.get_role_display()})" for m in obj.memberships.all()) or "—"


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class TenantCreationForm(forms.ModelForm):
    """A new tenant and its first Admin, made by tenant_create with the API's rules."""

    admin_username = forms.CharField(label="First Admin's username", max_length=150)
    admin_email = forms.EmailField(label="First Admin's email")
    admin_password = forms.CharField(label="First Admin's password", widget=forms.PasswordInput, strip=False)

    class Meta:
        model = Tenant
        fields = ["slug", "name"]

    def _post_clean(self):
        """The model's own validation would look for a schema name; tenant_create checks everything instead."""

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        self.created = None
        try:
            self.created = tenant_create(
                slug=data["slug"],
                name=data["name"],
                admin={
                    "username": data["admin_username"],
                    "email": data["admin_email"],
                    "password": data["admin_password"],
                },
            )
        except FieldErrors as exc:
            for field, errors in (exc.details or {}).items():
                name = field.replace("admin.", "admin_")
                for error in errors:
                    self.add_error(name if name in self.fields else None, error)
        except ApiError as exc:
            raise ValidationError(exc.message) from None
        return data


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "schema_name", "created_at", "members", "events_link"]
    search_fields = ["slug", "name", "schema_name", "domains__domain"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    inlines = [DomainInline]

    def get_queryset(self, request):
        member = Membership.objects.filter(tenant=OuterRef("pk"), user=request.user)
        return super().get_queryset(request).exclude(schema_name="public").annotate(is_member=Exists(member))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TenantCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["slug", "name", "admin_username", "admin_email", "admin_password"]
        return ["slug", "name", "schema_name", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "schema_name", "created_at"] if obj else []

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = form.created  # made while the form was validated, with its schema, Admin and subdomain
        obj.pk, obj.schema_name, obj.created_at = created.pk, created.schema_name, created.created_at
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        # Deleting a tenant drops its schema and data keys: DELETE /api/v1/tenants/{id} (tenant_delete) does it
        # with its checks; the admin does not.
        return False

    @admin.display(description="Members")
    def members(self, obj):
        return obj.memberships.count()

    @admin.display(description="Events")
    def events_link(self, obj):
        if not getattr(obj, "is_member", False):
            return "—"
        return format_html('<a href="{}">Events</a>', reverse("admin:tenants_tenant_events", args=[obj.pk]))

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None:
            # Adding: tenant_create migrates the new schema outside any transaction, as the API does (the admin's
            # usual atomic block would hold every migration's DDL in one transaction).
            return self._changeform_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        tenant = self.get_object(request, object_id)
        if tenant is not None and tenant.is_member:
            extra_context["events_url"] = reverse("admin:tenants_tenant_events", args=[tenant.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        events = path(
            "<int:tenant_id>/events/", self.admin_site.admin_view(self.events_view), name="tenants_tenant_events"
        )
        return [events, *super().get_urls()]

    def events_view(self, request, tenant_id: int):
        """The tenant's events, newest first, cursor-paged, read-only; for staff who are members of it."""
        # The admin site is wiring over every app: it reads events through search's public modules.
        from search.audience import audience_of, event_view
        from search.cursor import cursor_decode
        from search.filters import EventFilter
        from search.selectors import events_page
        from search.trail import trail_event, trail_note

        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        tenant = get_object_or_404(Tenant.objects.exclude(schema_name="public"), pk=tenant_id)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "tenant": tenant}
        membership = membership_get(user_id=request.user.pk, tenant_slug=tenant.slug)
        if membership is None:
            context["title"] = f"Events of {tenant.name}"
            return TemplateResponse(request, "admin/tenants/tenant/events_refused.html", context, status=403)
        principal = Principal(kind="user", tenant=tenant, user=membership.user, role=membership.role)
        audience = audience_of(principal)
        try:
            after = cursor_decode(request.GET["cursor"]) if request.GET.get("cursor") else None
        except FieldErrors:
            messages.error(request, "That page link is invalid; showing the newest events.")
            after = None
        connection.set_tenant(tenant)
        try:
            page = events_page(EventFilter(access_trail=audience.access_trail), after=after, limit=EVENTS_PAGE)
            events = [event_view(event, audience) for event in page.events]
            for event in events:
                changes = event.get("changes")
                event["changes_text"] = json.dumps(changes, indent=1, ensure_ascii=False) if changes else ""
        finally:
            connection.set_schema_to_public()
        trail_note(
            tenant,
            trail_event(
                "log-list",
                principal,
                filters={},
                ip=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT"),
                results=len(events),
                **({"next_page": True} if after else {}),
            ),
        )
        context.update(
            title=f"Events of {tenant.name}",
            events=events,
            next_cursor=page.next_cursor,
            role=Role(membership.role).label,
            sensitive=audience.sensitive,
        )
        return TemplateResponse(request, "admin/tenants/tenant/events.html", context)


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "tenant", "is_primary"]
    list_filter = ["is_primary"]
    search_fields = ["domain", "tenant__slug", "tenant__name"]
    autocomplete_fields = ["tenant"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__slug", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]
    list_select_related = ["user", "tenant"]
    readonly_fields = ["created_at"]


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are listed and revoked here; they are made by the tenant's Admin (API or dashboard), where the secret
    is shown once. Only a SHA-256 of the secret is stored, shown read-only."""

    list_display = ["name", "tenant", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter, "tenant", "created_at"]
    search_fields = ["name", "prefix", "tenant__slug", "tenant__name", "created_by__username"]
    list_select_related = ["tenant", "created_by"]
    fields = ["name", "tenant", "prefix", "scopes", "secret_hash", "created_by", "created_at", "expires_at",
              "last_used_at", "revoked_at"]  # fmt: skip
    readonly_fields = ["tenant", "prefix", "scopes", "secret_hash", "created_by", "created_at", "last_used_at",
                       "revoked_at"]  # fmt: skip
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(key=key)
        self.message_user(request, f"{len(keys)} key(s) revoked.", messages.SUCCESS)
