"""DRF authentication: API keys and tenant-bound JWTs. Success switches the connection to the tenant's schema."""

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from auditlog.errors import TenantMismatch

from .principal import Principal
from .selectors import api_key_authenticate, api_key_split, membership_get
from .services import api_key_touch


def _activate(request, principal: Principal) -> Principal:
    host_tenant = getattr(request._request, "host_tenant", None)
    if host_tenant is not None and (principal.tenant is None or principal.tenant.pk != host_tenant.pk):
        raise TenantMismatch("This credential does not belong to the tenant of this host.")
    if principal.tenant is not None:
        connection.set_tenant(principal.tenant)
    return principal


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`X-API-Key: <key>` or `Authorization: Bearer alk_...`."""

    def authenticate(self, request):
        raw = request.META.get("HTTP_X_API_KEY")
        if raw is None:
            header = request.META.get("HTTP_AUTHORIZATION", "")
            scheme, _sep, value = header.partition(" ")
            if scheme.lower() != "bearer" or api_key_split(value.strip()) is None:
                return None
            raw = value.strip()
        key = api_key_authenticate(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API key."))
        api_key_touch(key=key)
        principal = Principal(kind="key", tenant=key.tenant, api_key=key, scopes=frozenset(key.scopes))
        return AnonymousUser(), _activate(request, principal)

    def authenticate_header(self, request):
        return "Bearer"


class TenantJWTAuthentication(JWTAuthentication):
    """`Authorization: Bearer <access token>`; the membership is re-checked on every request."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        try:
            token = self.get_validated_token(raw)
        except (InvalidToken, TokenError):
            raise exceptions.AuthenticationFailed(_("Invalid or expired token.")) from None
        return self.principal_for(token, request)

    def principal_for(self, token, request):
        from .models import User

        user_id = token.get("user_id")
        tenant_slug = token.get("tenant")
        if tenant_slug:
            membership = membership_get(user_id=user_id, tenant_slug=tenant_slug)
            if membership is None:
                raise exceptions.AuthenticationFailed(_("The membership behind this token no longer exists."))
            principal = Principal(kind="user", tenant=membership.tenant, user=membership.user, role=membership.role)
        else:
            user = User.objects.filter(pk=user_id, is_active=True, is_staff=True).first()
            if user is None:
                raise exceptions.AuthenticationFailed(_("Invalid or expired token."))
            principal = Principal(kind="user", tenant=None, user=user)
        return principal.user, _activate(request, principal)

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if token.get("token_type") != "access":
            raise InvalidToken("Not an access token.")
        return token
