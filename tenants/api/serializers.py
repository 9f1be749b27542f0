"""Input and output shapes of the tenant, member, key and token endpoints."""

from rest_framework import serializers

from auditlog.serializers import StrictSerializer

from ..models import ApiKey, Membership, Role, Scope, Tenant
from ..services import SLUG_RE

SLUG_HELP = "Use 3-48 lower-case letters, digits and dashes, starting with a letter; not a reserved word."
PASSWORD_HELP = "At least 12 characters, not common, not all digits, not like the username or email."


class TokenObtainIn(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    tenant = serializers.SlugField(max_length=48, required=False)


class TokenPairOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshIn(StrictSerializer):
    refresh = serializers.CharField(max_length=4096)


class TokenAccessOut(serializers.Serializer):
    access = serializers.CharField()


class AdminIn(StrictSerializer):
    username = serializers.RegexField(r"^[\w.@+-]+$", max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(min_length=12, max_length=256, trim_whitespace=False, help_text=PASSWORD_HELP)


class TenantIn(StrictSerializer):
    slug = serializers.RegexField(
        SLUG_RE.pattern,
        max_length=48,
        error_messages={"invalid": SLUG_HELP},
        help_text=SLUG_HELP,
    )
    name = serializers.CharField(max_length=200)
    admin = AdminIn()


class TenantOut(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "created_at"]


class ApiKeyIn(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), min_length=1, max_length=3)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "scopes", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]


class ApiKeyCreatedOut(serializers.ModelSerializer):
    key = serializers.CharField(help_text="The secret. Shown only in this response.")

    class Meta:
        model = ApiKey
        fields = ["id", "name", "scopes", "prefix", "key", "created_at", "expires_at"]


class MemberIn(StrictSerializer):
    username = serializers.RegexField(r"^[\w.@+-]+$", max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(min_length=12, max_length=256, trim_whitespace=False, help_text=PASSWORD_HELP)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberPatchIn(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    email = serializers.EmailField(max_length=254, required=False)


class MemberOut(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]


class TenantPageOut(serializers.Serializer):
    results = TenantOut(many=True)


class ApiKeyPageOut(serializers.Serializer):
    results = ApiKeyOut(many=True)


class MemberPageOut(serializers.Serializer):
    results = MemberOut(many=True)


class MaskingRules(serializers.Serializer):
    keys = serializers.ListField(child=serializers.CharField(), help_text="Key names masked wherever they occur.")
    paths = serializers.ListField(
        child=serializers.CharField(), help_text="Dotted paths masked whole: message, metadata.card.number, ..."
    )
    patterns = serializers.ListField(child=serializers.CharField(), help_text="RE2 regexes; what they match is masked.")


class Limits(serializers.Serializer):
    ingest_per_second = serializers.IntegerField()
    ingest_per_second_per_credential = serializers.IntegerField()
    read_per_minute = serializers.IntegerField()
    read_per_minute_per_credential = serializers.IntegerField()


class SettingsOut(serializers.Serializer):
    retention_days = serializers.IntegerField()
    masking = MaskingRules()
    sensitive_fields = serializers.ListField(
        child=serializers.CharField(), help_text="Paths under metadata encrypted at rest."
    )
    limits = Limits(help_text="Requests per window; the effective values (defaults where not set).")
    updated_at = serializers.DateTimeField(allow_null=True)


class LimitsPatch(serializers.Serializer):
    ingest_per_second = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    ingest_per_second_per_credential = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    read_per_minute = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    read_per_minute_per_credential = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class SettingsPatchIn(serializers.Serializer):
    """Documentation of PATCH /api/v1/settings; the body is checked by tenants.policies."""

    retention_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    masking = MaskingRules(required=False)
    sensitive_fields = serializers.ListField(child=serializers.CharField(), required=False)
    limits = LimitsPatch(required=False, help_text="Merged by name; null restores the default.")
