"""DRF permission enforcing tenants.access.MATRIX."""

from rest_framework import exceptions, permissions

from .access import rule_for
from .principal import Principal


class AccessPolicy(permissions.BasePermission):
    def has_permission(self, request, view):
        if request.method == "OPTIONS":
            return True
        match = request.resolver_match
        rule = rule_for(match.url_name if match else None, request.method)
        if rule is None:
            raise exceptions.MethodNotAllowed(request.method)
        if rule.anonymous:
            return True
        principal = request.auth
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated("Authentication credentials were not provided.")
        if principal.kind == "key":
            if rule.scope is None or not principal.has_scope(rule.scope):
                raise exceptions.PermissionDenied(
                    "This API key lacks the scope for this action." if rule.scope else "API keys cannot do this."
                )
            return True
        if rule.staff:
            if principal.is_staff:
                return True
            raise exceptions.PermissionDenied("Only platform staff can do this.")
        if rule.role is None:
            raise exceptions.PermissionDenied("Only API keys can do this.")
        if principal.tenant is None:
            raise exceptions.PermissionDenied("This token is not bound to a tenant.")
        if not principal.has_role(rule.role):
            raise exceptions.PermissionDenied("Your role does not allow this action.")
        return True
