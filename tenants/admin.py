"""Django admin for platform staff."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import ApiKey, Domain, Membership, Tenant, User

admin.site.register(User, UserAdmin)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "schema_name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [DomainInline]

    def get_readonly_fields(self, request, obj=None):
        return ["schema_name", "created_at"] if obj else ["created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "prefix", "scopes", "created_at", "revoked_at"]
    list_filter = ["tenant"]
    readonly_fields = ["prefix", "secret_hash", "created_at", "last_used_at"]
