"""Thin views for tokens, tenants, API keys and members."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from auditlog.errors import FieldErrors
from auditlog.openapi import error_responses

from .. import selectors, services
from ..models import ApiKey, Membership, TenantSettings
from ..policies import Policy
from ..ratelimit import LoginThrottle
from . import serializers as s

ERRORS = error_responses(400, 401, 403)
READ_ERRORS = error_responses(401, 403)
DETAIL_ERRORS = error_responses(401, 403, 404)


class _AnonymousAuthView(APIView):
    """An endpoint anyone may call. Its failed logins are 401 with a challenge, as everywhere else.

    Without authenticators DRF would have no `WWW-Authenticate` value and turn AuthenticationFailed into 403.
    """

    authentication_classes: list = []

    def get_authenticate_header(self, request):
        return "Bearer"


class TokenObtainView(_AnonymousAuthView):
    throttle_classes = [LoginThrottle]

    @extend_schema(request=s.TokenObtainIn, responses={200: s.TokenPairOut, **ERRORS}, tags=["auth"], auth=[])
    def post(self, request):
        data = _valid(s.TokenObtainIn, request.data)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        memberships = selectors.memberships_of(user)
        wanted = data.get("tenant")
        if wanted:
            membership = next((m for m in memberships if m.tenant.slug == wanted), None)
            if membership is None:
                raise exceptions.AuthenticationFailed("You are not a member of that tenant.")
        elif len(memberships) == 1:
            membership = memberships[0]
        elif len(memberships) > 1:
            raise FieldErrors(
                {
                    "tenant": [
                        "You belong to several tenants; name one: " + ", ".join(m.tenant.slug for m in memberships)
                    ]
                }
            )
        elif user.is_staff:
            membership = None
        else:
            raise exceptions.AuthenticationFailed("You are not a member of any tenant.")
        return Response(services.tokens_issue(user=user, membership=membership))


class TokenRefreshView(_AnonymousAuthView):
    @extend_schema(request=s.TokenRefreshIn, responses={200: s.TokenAccessOut, **ERRORS}, tags=["auth"], auth=[])
    def post(self, request):
        data = _valid(s.TokenRefreshIn, request.data)
        result = services.token_refresh(raw_refresh=data["refresh"])
        if not result:
            raise exceptions.AuthenticationFailed("Invalid or expired refresh token.")
        return Response(result)


class TenantListView(APIView):
    @extend_schema(operation_id="tenants_list", responses={200: s.TenantPageOut, **READ_ERRORS}, tags=["tenants"])
    def get(self, request):
        return Response({"results": s.TenantOut(selectors.tenant_list(), many=True).data})

    @extend_schema(request=s.TenantIn, responses={201: s.TenantOut, **ERRORS, **error_responses(409)}, tags=["tenants"])
    def post(self, request):
        data = _valid(s.TenantIn, request.data)
        tenant = services.tenant_create(slug=data["slug"], name=data["name"], admin=data["admin"])
        return Response(s.TenantOut(tenant).data, status=status.HTTP_201_CREATED)


class TenantDetailView(APIView):
    @extend_schema(
        responses={204: None, **DETAIL_ERRORS},
        tags=["tenants"],
        description="Delete the tenant for good: its data keys are destroyed first, so its encrypted event "
        "content cannot be read from any copy that remains; then its schema (every event), domains, members, "
        "API keys and settings. People left without a tenant are deactivated.",
    )
    def delete(self, request, pk):
        tenant = selectors.tenant_list().filter(pk=pk).first()
        if tenant is None:
            raise exceptions.NotFound("Not found.")
        services.tenant_delete(tenant=tenant)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyListView(APIView):
    @extend_schema(operation_id="api_keys_list", responses={200: s.ApiKeyPageOut, **READ_ERRORS}, tags=["api-keys"])
    def get(self, request):
        keys = ApiKey.objects.filter(tenant=request.auth.tenant)
        return Response({"results": s.ApiKeyOut(keys, many=True).data})

    @extend_schema(request=s.ApiKeyIn, responses={201: s.ApiKeyCreatedOut, **ERRORS}, tags=["api-keys"])
    def post(self, request):
        data = _valid(s.ApiKeyIn, request.data)
        key, raw = services.api_key_create(
            tenant=request.auth.tenant,
            name=data["name"],
            scopes=data["scopes"],
            created_by=request.auth.user,
            expires_at=data.get("expires_at"),
        )
        key.key = raw
        return Response(s.ApiKeyCreatedOut(key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    def _get(self, request, pk):
        key = ApiKey.objects.filter(tenant=request.auth.tenant, pk=pk).first()
        if key is None:
            raise exceptions.NotFound("Not found.")
        return key

    @extend_schema(responses={200: s.ApiKeyOut, **DETAIL_ERRORS}, tags=["api-keys"])
    def get(self, request, pk):
        return Response(s.ApiKeyOut(self._get(request, pk)).data)

    @extend_schema(
        responses={204: None, **DETAIL_ERRORS},
        tags=["api-keys"],
        description="Revoke the key (it stops working at once).",
    )
    def delete(self, request, pk):
        services.api_key_revoke(key=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(APIView):
    @extend_schema(operation_id="members_list", responses={200: s.MemberPageOut, **READ_ERRORS}, tags=["members"])
    def get(self, request):
        members = Membership.objects.filter(tenant=request.auth.tenant).select_related("user").order_by("id")
        return Response({"results": s.MemberOut(members, many=True).data})

    @extend_schema(request=s.MemberIn, responses={201: s.MemberOut, **ERRORS, **error_responses(409)}, tags=["members"])
    def post(self, request):
        data = _valid(s.MemberIn, request.data)
        membership = services.member_create(tenant=request.auth.tenant, **data)
        return Response(s.MemberOut(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    def _get(self, request, pk):
        membership = Membership.objects.filter(tenant=request.auth.tenant, pk=pk).select_related("user").first()
        if membership is None:
            raise exceptions.NotFound("Not found.")
        return membership

    @extend_schema(responses={200: s.MemberOut, **DETAIL_ERRORS}, tags=["members"])
    def get(self, request, pk):
        return Response(s.MemberOut(self._get(request, pk)).data)

    @extend_schema(
        request=s.MemberPatchIn, responses={200: s.MemberOut, **ERRORS, **error_responses(404)}, tags=["members"]
    )
    def patch(self, request, pk):
        data = _valid(s.MemberPatchIn, request.data)
        membership = services.member_update(membership=self._get(request, pk), **data)
        return Response(s.MemberOut(membership).data)

    @extend_schema(responses={204: None, **DETAIL_ERRORS}, tags=["members"])
    def delete(self, request, pk):
        services.member_delete(membership=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SettingsView(APIView):
    """The tenant's policies: retention, masking rules, sensitive (encrypted) fields, rate limits."""

    @extend_schema(operation_id="settings_get", responses={200: s.SettingsOut, **READ_ERRORS}, tags=["settings"])
    def get(self, request):
        return Response(_settings_out(request.auth.tenant))

    @extend_schema(
        operation_id="settings_update",
        request=s.SettingsPatchIn,
        responses={200: s.SettingsOut, **ERRORS},
        tags=["settings"],
        description="Each field given replaces the stored one (limits are merged by name; null restores a "
        "default). Takes effect within POLICY_CACHE_SECONDS in every process.",
    )
    def patch(self, request):
        services.tenant_settings_update(tenant=request.auth.tenant, changes=request.data)
        return Response(_settings_out(request.auth.tenant))


def _settings_out(tenant) -> dict:
    row = TenantSettings.objects.filter(tenant=tenant).first()
    policy = Policy.of(row)
    return {
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


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
